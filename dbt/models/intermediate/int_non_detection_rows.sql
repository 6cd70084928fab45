{#- Every non-detection (prv_candidates row with null candid) the batch carries. -#}
select
    objectId,
    fid,
    mjd,
    jd,
    {{ ateda.date_from_jd('jd') }} as night,
    diffmaglim,
    pid,
    nid,
    field,
    rcid,
    programid,
    parent_candid
from {{ ref('stg_ztf__prv_candidates') }}
where candid is null
