{#- The identity linking rules (config/identity_rules.yml, copied to prep.identity_rules by the
    Python normalization step). Read through the identity_rule_* macros. -#}
select
    rule,
    namespace,
    other_namespace,
    value
from {{ source('prep', 'identity_rules') }}
