-- The identity rules the build reads are complete: one fingerprint, one profile size cap, a
-- distinct priority for each of the five namespaces. Fails with what is missing or repeated
-- (prep.identity_rules is written by the normalization step; see cdp.identity.rules).
with

rules as (

    select * from {{ ref('stg_prep__identity_rules') }}

),

expected (rule, wanted) as (

    values
        ('fingerprint', 1),
        ('max_identities_per_profile', 1),
        ('namespace_priority', 5)

),

counted as (

    select
        expected.rule,
        expected.wanted,
        count(rules.rule) as found,
        count(distinct rules.value) as distinct_values
    from expected
    left join rules on rules.rule = expected.rule
    group by expected.rule, expected.wanted

)

select * from counted
where found <> wanted or distinct_values <> wanted
