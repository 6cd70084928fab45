{{ config(meta={'dagster': {'ref': {'name': 'lsst_alert'}}}) }}
{#- Row counts against the source: silver.lsst_alert has exactly the batch's bronze.lsst_alerts rows per night. -#}
with src as (
    select alert_night as night, count(*) as n_bronze, count(distinct alert_diaSourceId) as n_keys
    from {{ ref('stg_lsst__alerts') }}
    group by alert_night
),

dst as (
    select night, count(*) as n_silver
    from {{ ref('lsst_alert') }}
    where night in (select night from src)
    group by night
)

select src.night, src.n_bronze, src.n_keys, dst.n_silver
from src
left join dst on dst.night = src.night
where dst.n_silver is null or dst.n_silver <> src.n_bronze or src.n_keys <> src.n_bronze
