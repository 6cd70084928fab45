{#- Gaia DR cross-match each alert of the batch carries (nearest and nearest bright star). -#}
select
    objectId,
    neargaia,
    neargaiabright,
    maggaia,
    maggaiabright,
    candid as source_candid,
    mjd as source_mjd
from {{ ref('stg_ztf__alerts') }}
where neargaia is not null or neargaiabright is not null
