{#- Fails with the duplicated combinations: the primary-key test of a composite key.
    (The usual test of the same name lives in a dbt package; the project downloads none.) -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {%- set columns = combination_of_columns | join(', ') -%}
    select {{ columns }}, count(*) as n_rows
    from {{ model }}
    group by {{ columns }}
    having count(*) > 1
{% endtest %}
