select
    namespace,
    raw_value,
    default_region,
    identity_value,
    reason
from {{ source('prep', 'identifiers') }}
