{#- The members of every audience on the run date, one row per audience and profile: the union
    of the audience models listed in macros/audiences/audience_registry.sql. -#}
{{ cdp.audience_members_union() }}
