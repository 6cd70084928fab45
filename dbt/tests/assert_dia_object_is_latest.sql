{{ config(meta={'dagster': {'ref': {'name': 'dia_object'}}}) }}
{#- dia_object holds, per diaObjectId, the version carried by its latest alert in silver that carries a diaObject (by midpointMjdTai). -#}
with latest as (
    select diaObjectId, max(mjd) as latest_mjd
    from {{ ref('lsst_alert') }}
    where diaObjectId is not null and has_dia_object
    group by diaObjectId
)

select o.diaObjectId, o.source_mjd, l.latest_mjd
from {{ ref('dia_object') }} as o
inner join latest as l on l.diaObjectId = o.diaObjectId
where o.source_mjd < l.latest_mjd
