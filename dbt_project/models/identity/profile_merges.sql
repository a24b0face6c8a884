{#- Every merge of two profiles: the profile that disappeared, the one that kept its id, and the
    run date of the merge. Copied from the stitching state (stitch_profile_merges), which keeps
    the whole history across runs. -#}
-- depends_on: {{ ref('int_identity_components_stitched') }}
select
    from_profile_id,
    to_profile_id,
    at
from {{ cdp.stitch_state(ref('int_identity_components_stitched'))['profile_merges'] }}
