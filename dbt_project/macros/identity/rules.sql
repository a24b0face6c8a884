{#- Reading the identity linking rules (stg_prep__identity_rules) in models. -#}

{#- One row per namespace: namespace, namespace_priority (1 = strongest), unique_mask (a bit of
    its own when the namespace is unique per profile, else 0): the select of a CTE. -#}
{% macro identity_namespace_rules_sql() -%}
    select
        priorities.namespace,
        cast(priorities.value as integer) as namespace_priority,
        case
            when uniques.namespace is not null
                then cast(power(2, cast(priorities.value as integer) - 1) as integer)
            else 0
        end as unique_mask
    from {{ ref('stg_prep__identity_rules') }} as priorities
    left join {{ ref('stg_prep__identity_rules') }} as uniques
        on uniques.rule = 'unique_namespace'
        and uniques.namespace = priorities.namespace
    where priorities.rule = 'namespace_priority'
{%- endmacro %}

{#- Hub limits: namespace, other_namespace, max_linked. -#}
{% macro identity_link_limits_sql() -%}
    select
        namespace,
        other_namespace,
        cast(value as integer) as max_linked
    from {{ ref('stg_prep__identity_rules') }}
    where rule = 'link_limit'
{%- endmacro %}
