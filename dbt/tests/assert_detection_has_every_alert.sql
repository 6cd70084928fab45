{{ config(meta={'dagster': {'ref': {'name': 'detection'}}}) }}
{#- Every alert of the batch is a detection, kept as the alert's own row (with stamps). -#}
select a.objectId, a.candid
from {{ ref('stg_ztf__alerts') }} as a
left join {{ ref('detection') }} as d
    on d.objectId = a.objectId and d.candid = a.candid
where d.candid is null or not d.from_alert
