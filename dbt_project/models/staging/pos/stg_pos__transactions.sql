with

source as (

    select * from {{ source('pos', 'pos_transactions') }}
    where _dt <= {{ cdp.run_date_literal() }}

),

latest as (

    {{ cdp.one_row_per_key('source', 'transaction_id', '_dt desc, _file desc, _line desc') | indent(4) }}

)

select
    latest.transaction_id,
    latest.store_id,
    {{ cdp.identifier_columns('loyalty_ids', 'loyalty_id', 'latest.loyalty_id') | indent(4) }},
    {{ cdp.identifier_columns('email_ids', 'receipt_email', 'latest.receipt_email') | indent(4) }},
    latest.transacted_at,
    latest.item_count,
    latest.total_amount,
    upper(nullif(trim(latest.currency), '')) as currency,
    coalesce(latest.total_amount < 0, false) as is_return,
    latest._dt as source_dt,
    latest._file as source_file,
    latest._line as source_line

from latest
{{ cdp.join_identifier('loyalty_ids', "'loyalty'", 'latest.loyalty_id') }}
{{ cdp.join_identifier('email_ids', "'email'", 'latest.receipt_email') }}
