{{ config(meta={'dagster': {'ref': {'name': 'nightly_stats'}}}) }}
{#- Per survey and night, the alerts counted in nightly_stats add up to the alerts in silver. -#}
with s as (
    select survey, night, sum(n_alerts) as n_alerts from {{ ref('nightly_stats') }} group by survey, night
),

a as (
    select 'ztf' as survey, night, count(*) as n_alerts from {{ ref('ztf_alert') }} group by night
    union all
    select 'lsst' as survey, night, count(*) as n_alerts from {{ ref('lsst_alert') }} group by night
)

select a.survey, a.night, a.n_alerts, s.n_alerts as n_stats
from a
left join s on s.survey = a.survey and s.night = a.night
where s.n_alerts is null or s.n_alerts <> a.n_alerts
