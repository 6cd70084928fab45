{{ config(meta={'dagster': {'ref': {'name': 'dia_source'}}}) }}
{#- Every Rubin alert of the batch is a dia_source row, kept as the alert's own row (with stamps). -#}
select a.alert_diaSourceId, a.diaSourceId
from {{ ref('stg_lsst__alerts') }} as a
left join {{ ref('dia_source') }} as d
    on d.diaSourceId = a.diaSourceId
where d.diaSourceId is null or not d.from_alert
