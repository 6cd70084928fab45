{{ config(meta={'dagster': {'ref': {'name': 'ztf_alert'}}}) }}
{#- Row counts against the source: silver.ztf_alert has exactly the batch's bronze alerts per night. -#}
with src as (
    select night, count(*) as n_bronze, count(distinct candid) as n_candid
    from {{ ref('stg_ztf__alerts') }}
    group by night
),

dst as (
    select night, count(*) as n_silver
    from {{ ref('ztf_alert') }}
    where night in (select night from src)
    group by night
)

select src.night, src.n_bronze, src.n_candid, dst.n_silver
from src
left join dst on dst.night = src.night
where dst.n_silver is null or dst.n_silver <> src.n_bronze or src.n_candid <> src.n_bronze
