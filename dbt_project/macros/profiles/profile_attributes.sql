{#- The merged profile attributes: which columns a profile has, how a value is checked, and
    which source record carries which of them. The merge policy (var merge_policy of
    dbt_project.yml) then says which record wins; see profile_merge_policy.sql. -#}

{#- Every merged attribute column, in profile order, with its type and the check a value
    must pass to compete (an invalid value counts as missing). -#}
{% macro profile_attribute_columns() -%}
    {{ return([
        {'name': 'crm_id', 'type': dbt.type_string(), 'check': 'identity'},
        {'name': 'loyalty_id', 'type': dbt.type_string(), 'check': 'identity'},
        {'name': 'email', 'type': dbt.type_string(), 'check': 'identity'},
        {'name': 'phone', 'type': dbt.type_string(), 'check': 'identity'},
        {'name': 'first_name', 'type': dbt.type_string(), 'check': 'text'},
        {'name': 'last_name', 'type': dbt.type_string(), 'check': 'text'},
        {'name': 'birth_date', 'type': 'date', 'check': 'birth_date'},
        {'name': 'gender', 'type': dbt.type_string(), 'check': 'gender'},
        {'name': 'address_line1', 'type': dbt.type_string(), 'check': 'text'},
        {'name': 'city', 'type': dbt.type_string(), 'check': 'text'},
        {'name': 'region', 'type': dbt.type_string(), 'check': 'text'},
        {'name': 'postal_code', 'type': dbt.type_string(), 'check': 'text'},
        {'name': 'country', 'type': dbt.type_string(), 'check': 'country_code'},
        {'name': 'loyalty_tier', 'type': dbt.type_string(), 'check': 'loyalty_tier'},
        {'name': 'points_balance', 'type': dbt.type_int(), 'check': 'non_negative'},
    ]) }}
{%- endmacro %}

{#- The source records that carry profile attributes: the staging model, its record key (the
    record_id of int_source_records_profiled), the source's own update time, and the
    expression of each attribute it carries. `latest_per_value`: the source has many records
    per person (receipts, events), so only the latest record per distinct set of values is a
    candidate (the same winner, far fewer rows). -#}
{% macro profile_attribute_sources() -%}
    {%- set address = 'shipping_address' -%}
    {{ return([
        {'source': 'crm_customers', 'model': 'stg_crm__customers', 'record_id': 'customer_id_raw',
         'updated_at': 'updated_at', 'where': 'not is_deleted', 'latest_per_value': false,
         'values': {'crm_id': 'customer_id', 'email': 'email', 'phone': 'phone',
                    'first_name': 'first_name', 'last_name': 'last_name', 'birth_date': 'birth_date',
                    'gender': 'gender', 'address_line1': 'address_line1', 'city': 'city',
                    'region': 'region', 'postal_code': 'postal_code', 'country': 'country'}},
        {'source': 'loyalty_members', 'model': 'stg_loyalty__members', 'record_id': 'loyalty_id_raw',
         'updated_at': 'updated_at', 'where': none, 'latest_per_value': false,
         'values': {'crm_id': 'customer_id', 'loyalty_id': 'loyalty_id', 'email': 'email', 'phone': 'phone',
                    'first_name': 'first_name', 'last_name': 'last_name', 'country': 'country',
                    'loyalty_tier': 'tier', 'points_balance': 'points_balance'}},
        {'source': 'ecommerce_orders', 'model': 'stg_ecommerce__orders', 'record_id': 'order_id',
         'updated_at': 'coalesce(updated_at, ordered_at)', 'where': none, 'latest_per_value': false,
         'values': {'crm_id': 'customer_id', 'email': 'email', 'phone': 'phone',
                    'address_line1': cdp.json_text(address, 'line1'), 'city': cdp.json_text(address, 'city'),
                    'region': cdp.json_text(address, 'region'),
                    'postal_code': cdp.json_text(address, 'postal_code'), 'country': 'shipping_country'}},
        {'source': 'pos_transactions', 'model': 'stg_pos__transactions', 'record_id': 'transaction_id',
         'updated_at': 'transacted_at', 'where': 'loyalty_id is not null or receipt_email is not null',
         'latest_per_value': true,
         'values': {'loyalty_id': 'loyalty_id', 'email': 'receipt_email'}},
        {'source': 'web_events', 'model': 'stg_web__events', 'record_id': 'event_id',
         'updated_at': 'occurred_at', 'where': 'customer_id is not null or email is not null',
         'latest_per_value': true,
         'values': {'crm_id': 'customer_id', 'email': 'email'}},
    ]) }}
{%- endmacro %}

{#- `expr` when it passes `check`, else null. Identities come normalized from staging (null
    when blocked or invalid), so they pass as they are. -#}
{% macro valid_profile_value(check, expr, placeholders) -%}
    {%- if check == 'identity' -%}
        {{ expr }}
    {%- elif check == 'text' -%}
        case
            when lower(trim({{ expr }})) not in ({{ cdp.sql_string_list(placeholders) }})
                then trim({{ expr }})
        end
    {%- elif check == 'birth_date' -%}
        case
            when {{ expr }} >= cast('1900-01-01' as date) and {{ expr }} <= {{ cdp.run_date_literal() }}
                then {{ expr }}
        end
    {%- elif check == 'gender' -%}
        case when upper(trim({{ expr }})) in ('F', 'M', 'X') then upper(trim({{ expr }})) end
    {%- elif check == 'country_code' -%}
        case
            when {{ cdp.profiles_matches_pattern('upper(trim(' ~ expr ~ '))', '^[A-Z]{2}$') }}
                then upper(trim({{ expr }}))
        end
    {%- elif check == 'loyalty_tier' -%}
        case
            when lower(trim({{ expr }})) in ('bronze', 'silver', 'gold', 'platinum')
                then lower(trim({{ expr }}))
        end
    {%- elif check == 'non_negative' -%}
        case when {{ expr }} >= 0 then {{ expr }} end
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown profile attribute check '" ~ check ~ "'") }}
    {%- endif -%}
{%- endmacro %}

{#- 'a', 'b', ... as SQL string literals (quotes doubled). -#}
{% macro sql_string_list(values) -%}
    {%- for value in values -%}
        '{{ value | string | replace("'", "''") }}'{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}
