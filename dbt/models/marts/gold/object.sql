{{ config(**ateda.incremental_config(keys=['objectId'])) }}
{#- One row per object: history span, detections, position, colour, flags. -#}
with scope as (
    {{ ateda.objects_in_scope() }}
),

det as (
    select d.*
    from {{ ref('detection') }} as d
    where d.objectId in (select objectId from scope)
),

det_stats as (
    select
        objectId,
        count(*) as ndet,
        min(mjd) as first_mjd,
        max(mjd) as last_mjd,
        {{ ateda.stable_avg('ra', 'candid') }} as mean_ra,
        {{ ateda.stable_avg('dec', 'candid') }} as mean_dec,
        {{ ateda.stable_stddev('ra', 'candid') }} * 3600
          * cos(radians({{ ateda.stable_avg('dec', 'candid') }})) as sigma_ra_arcsec,
        {{ ateda.stable_stddev('dec', 'candid') }} * 3600 as sigma_dec_arcsec,
        {{ ateda.stable_avg('case when fid = 1 then cast(magpsf as double) end', 'candid') }}
          - {{ ateda.stable_avg('case when fid = 2 then cast(magpsf as double) end', 'candid') }} as g_r_mean,
        {{ ateda.stable_avg('case when fid = 1 and corrected then mag_corr end', 'candid') }}
          - {{ ateda.stable_avg('case when fid = 2 and corrected then mag_corr end', 'candid') }} as g_r_mean_corr,
        {{ ateda.first_by('corrected', 'mjd', 'candid') }} as corrected,
        count(case when fid = 1 then 1 end) as ndet_g,
        count(case when fid = 2 then 1 end) as ndet_r,
        count(case when fid = 3 then 1 end) as ndet_i
    from det
    group by objectId
),

alert_stats as (
    select
        objectId,
        count(*) as n_alerts,
        min(night) as first_alert_night,
        max(night) as last_alert_night,
        {{ ateda.last_by('candid', 'jd', 'candid') }} as last_candid,
        {{ ateda.last_by('stellar', 'jd', 'candid') }} as stellar,
        {{ ateda.last_by('ndethist', 'jd', 'candid') }} as ndethist,
        {{ ateda.last_by('ncovhist', 'jd', 'candid') }} as ncovhist,
        min(mjdstarthist) as mjdstarthist
    from {{ ref('ztf_alert') }}
    where objectId in (select objectId from scope)
    group by objectId
),

nd_stats as (
    select objectId, count(*) as n_non_detections
    from {{ ref('non_detection') }}
    where objectId in (select objectId from scope)
    group by objectId
),

fp_stats as (
    select objectId, count(*) as n_forced_photometry
    from {{ ref('forced_photometry') }}
    where objectId in (select objectId from scope)
    group by objectId
)

select
    d.objectId,
    a.n_alerts,
    d.ndet,
    d.ndet_g,
    d.ndet_r,
    d.ndet_i,
    coalesce(n.n_non_detections, 0) as n_non_detections,
    coalesce(f.n_forced_photometry, 0) as n_forced_photometry,
    d.first_mjd,
    d.last_mjd,
    d.last_mjd - d.first_mjd as deltamjd,
    a.first_alert_night,
    a.last_alert_night,
    d.mean_ra,
    d.mean_dec,
    d.sigma_ra_arcsec,
    d.sigma_dec_arcsec,
    d.g_r_mean,
    d.g_r_mean_corr,
    d.corrected,
    a.stellar,
    a.ndethist,
    a.ncovhist,
    a.mjdstarthist,
    a.last_candid
from det_stats as d
inner join alert_stats as a on a.objectId = d.objectId
left join nd_stats as n on n.objectId = d.objectId
left join fp_stats as f on f.objectId = d.objectId
