{{ config(**ateda.incremental_config(keys=['survey', 'night', 'field', 'band'], delete_key=['survey', 'night'], distribute_by='night')) }}
{%- set batch = ref('stg_ztf__alerts') -%}
{%- set lsst_batch = ref('stg_lsst__alerts') -%}
{#-
  Per (survey, night, field, band): alerts, objects, new objects (first ever detection
  falls in the night), negative subtractions, depth. ZTF: night = UTC date of jd, new =
  candidate.jdstarthist in the night, per ZTF field and filter. Rubin: night = dayObs,
  new = lsst_alert.mjdstarthist in the night, field 0 (Rubin has no fixed field grid),
  mean_rb = mean reliability, no diffmaglim.
-#}
with alerts as (
    select *
    from {{ ref('ztf_alert') }}
    {% if ateda.is_incremental_run() %}
    where night in (select distinct night from {{ batch }})
    {% endif %}
),

lsst_alerts as (
    select *
    from {{ ref('lsst_alert') }}
    {% if ateda.is_incremental_run() %}
    where night in (select distinct alert_night from {{ lsst_batch }})
    {% endif %}
),

ztf_stats as (
    select
        'ztf' as survey,
        night,
        field,
        {{ ateda.ztf_band('fid') }} as band,
        fid,
        count(*) as n_alerts,
        count(distinct objectId) as n_objects,
        count(distinct case when {{ ateda.date_from_jd('jdstarthist') }} = night then objectId end) as n_new_objects,
        count(case when isdiffpos = -1 then 1 end) as n_negative,
        count(case when has_stamp then 1 end) as n_with_stamps,
        {{ ateda.median('cast(diffmaglim as double)') }} as median_diffmaglim,
        {{ ateda.stable_avg('cast(rb as double)', 'candid') }} as mean_rb,
        min(mjd) as first_mjd,
        max(mjd) as last_mjd
    from alerts
    group by night, field, fid
),

lsst_stats as (
    select
        'lsst' as survey,
        night,
        0 as field,
        coalesce(band, '?') as band,
        cast(null as int) as fid,
        count(*) as n_alerts,
        count(distinct diaObjectId) as n_objects,
        count(distinct case when {{ ateda.lsst_day_obs('mjdstarthist') }} = night then diaObjectId end) as n_new_objects,
        count(case when isdiffpos = -1 then 1 end) as n_negative,
        count(case when has_stamp then 1 end) as n_with_stamps,
        cast(null as double) as median_diffmaglim,
        {{ ateda.stable_avg('cast(reliability as double)', 'diaSourceId') }} as mean_rb,
        min(mjd) as first_mjd,
        max(mjd) as last_mjd
    from lsst_alerts
    group by night, coalesce(band, '?')
)

select * from ztf_stats
union all
select * from lsst_stats
