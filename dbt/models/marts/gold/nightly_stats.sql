{{ config(**ateda.incremental_config(keys=['night', 'field', 'fid'], delete_key=['night'])) }}
{%- set batch = ref('stg_ztf__alerts') -%}
{#-
  Per (night, field, filter): alerts, objects, new objects (first ever detection,
  candidate.jdstarthist, falls in the night), negative subtractions, depth.
-#}
with alerts as (
    select *
    from {{ ref('ztf_alert') }}
    {% if ateda.is_incremental_run() %}
    where night in (select distinct night from {{ batch }})
    {% endif %}
)

select
    night,
    field,
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
