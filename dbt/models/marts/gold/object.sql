{{ config(**ateda.incremental_config(keys=['survey', 'objectId'], distribute_by='objectId')) }}
{#-
  One row per (survey, object): history span, detections, position, colour, flags; ZTF
  objects (objectId) and Rubin diaObjects (diaObjectId as text) side by side.
  Position as ALeRCE: mean of the detections weighted by 1/e^2 (ZTF: the per-filter
  positional errors of macros/ztf.sql; Rubin: each diaSource's raErr/decErr, the plain
  mean when none has them). ra is averaged as offsets from the object's first detection
  wrapped into [-180, 180), then put back into [0, 360): a cluster straddling ra = 0/360
  averages near 0, not near 180.
-#}
with scope as (
    {{ ateda.objects_in_scope('ztf') }}
),

lsst_scope as (
    {{ ateda.objects_in_scope('lsst') }}
),

det as (
    select
        d.*,
        first_value(d.ra) over (
            partition by d.objectId order by case when d.ra is null then 1 else 0 end, d.mjd, d.candid
        ) as ra_ref,
        1.0 / (d.e_ra * d.e_ra) as w_ra,
        1.0 / (d.e_dec * d.e_dec) as w_dec
    from {{ ref('detection') }} as d
    where d.objectId in (select objectId from scope)
),

det_offsets as (
    select
        *,
        case
            when ra - ra_ref >= 180 then ra - ra_ref - 360
            when ra - ra_ref < -180 then ra - ra_ref + 360
            else ra - ra_ref
        end as ra_offset
    from det
),

det_stats as (
    select
        objectId,
        count(*) as ndet,
        min(mjd) as first_mjd,
        max(mjd) as last_mjd,
        min(ra_ref) as ra_ref,
        {{ ateda.stable_weighted_avg('ra_offset', 'w_ra', 'candid') }} as mean_ra_offset,
        {{ ateda.stable_weighted_avg('dec', 'w_dec', 'candid') }} as mean_dec,
        {{ ateda.stable_stddev('ra_offset', 'candid') }} * 3600
          * cos(radians({{ ateda.stable_weighted_avg('dec', 'w_dec', 'candid') }})) as sigma_ra_arcsec,
        {{ ateda.stable_stddev('dec', 'candid') }} * 3600 as sigma_dec_arcsec,
        {{ ateda.stable_avg('case when fid = 1 then cast(magpsf as double) end', 'candid') }}
          - {{ ateda.stable_avg('case when fid = 2 then cast(magpsf as double) end', 'candid') }} as g_r_mean,
        {{ ateda.stable_avg('case when fid = 1 and corrected then mag_corr end', 'candid') }}
          - {{ ateda.stable_avg('case when fid = 2 and corrected then mag_corr end', 'candid') }} as g_r_mean_corr,
        {{ ateda.first_by('corrected', 'mjd', 'candid') }} as corrected,
        {{ ateda.first_by('stellar', 'mjd', 'candid') }} as stellar,
        count(case when fid = 1 then 1 end) as ndet_g,
        count(case when fid = 2 then 1 end) as ndet_r,
        count(case when fid = 3 then 1 end) as ndet_i
    from det_offsets
    group by objectId
),

mean_position as (
    select
        objectId,
        case
            when ra_ref + mean_ra_offset < 0 then ra_ref + mean_ra_offset + 360
            when ra_ref + mean_ra_offset >= 360 then ra_ref + mean_ra_offset - 360
            else ra_ref + mean_ra_offset
        end as mean_ra
    from det_stats
),

alert_stats as (
    select
        objectId,
        count(*) as n_alerts,
        min(night) as first_alert_night,
        max(night) as last_alert_night,
        {{ ateda.last_by('candid', 'jd', 'candid') }} as last_candid,
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
    where objectId in (select objectId from scope) and usable
    group by objectId
),

ztf_objects as (
    select
        'ztf' as survey,
        d.objectId,
        a.n_alerts,
        d.ndet,
        0 as ndet_u,
        d.ndet_g,
        d.ndet_r,
        d.ndet_i,
        0 as ndet_z,
        0 as ndet_y,
        coalesce(n.n_non_detections, 0) as n_non_detections,
        coalesce(f.n_forced_photometry, 0) as n_forced_photometry,
        d.first_mjd,
        d.last_mjd,
        d.last_mjd - d.first_mjd as deltamjd,
        a.first_alert_night,
        a.last_alert_night,
        p.mean_ra,
        d.mean_dec,
        d.sigma_ra_arcsec,
        d.sigma_dec_arcsec,
        d.g_r_mean,
        d.g_r_mean_corr,
        d.corrected,
        d.stellar,
        a.ndethist,
        a.ncovhist,
        a.mjdstarthist,
        a.last_candid
    from det_stats as d
    inner join mean_position as p on p.objectId = d.objectId
    inner join alert_stats as a on a.objectId = d.objectId
    left join nd_stats as n on n.objectId = d.objectId
    left join fp_stats as f on f.objectId = d.objectId
),

-- Rubin: the same statistics over silver dia_source (band letters, AB magnitudes of
-- psfFlux, raErr/decErr as the positional errors).
lsst_det as (
    select
        cast(d.diaObjectId as varchar) as objectId,
        d.diaSourceId,
        d.mjd,
        d.band,
        d.ra,
        d.dec,
        d.mag,
        first_value(d.ra) over (
            partition by d.diaObjectId order by case when d.ra is null then 1 else 0 end, d.mjd, d.diaSourceId
        ) as ra_ref,
        case when d.raErr > 0 then 1.0 / (cast(d.raErr as double) * cast(d.raErr as double)) end as w_ra,
        case when d.decErr > 0 then 1.0 / (cast(d.decErr as double) * cast(d.decErr as double)) end as w_dec
    from {{ ref('dia_source') }} as d
    where d.diaObjectId is not null
      and cast(d.diaObjectId as varchar) in (select objectId from lsst_scope)
),

lsst_det_offsets as (
    select
        *,
        case
            when ra - ra_ref >= 180 then ra - ra_ref - 360
            when ra - ra_ref < -180 then ra - ra_ref + 360
            else ra - ra_ref
        end as ra_offset
    from lsst_det
),

lsst_det_stats as (
    select
        objectId,
        count(*) as ndet,
        min(mjd) as first_mjd,
        max(mjd) as last_mjd,
        min(ra_ref) as ra_ref,
        coalesce({{ ateda.stable_weighted_avg('ra_offset', 'w_ra', 'diaSourceId') }},
                 {{ ateda.stable_avg('ra_offset', 'diaSourceId') }}) as mean_ra_offset,
        coalesce({{ ateda.stable_weighted_avg('dec', 'w_dec', 'diaSourceId') }},
                 {{ ateda.stable_avg('dec', 'diaSourceId') }}) as mean_dec,
        {{ ateda.stable_stddev('ra_offset', 'diaSourceId') }} * 3600
          * cos(radians(coalesce({{ ateda.stable_weighted_avg('dec', 'w_dec', 'diaSourceId') }},
                                 {{ ateda.stable_avg('dec', 'diaSourceId') }}))) as sigma_ra_arcsec,
        {{ ateda.stable_stddev('dec', 'diaSourceId') }} * 3600 as sigma_dec_arcsec,
        {{ ateda.stable_avg("case when band = 'g' then mag end", 'diaSourceId') }}
          - {{ ateda.stable_avg("case when band = 'r' then mag end", 'diaSourceId') }} as g_r_mean,
        count(case when band = 'u' then 1 end) as ndet_u,
        count(case when band = 'g' then 1 end) as ndet_g,
        count(case when band = 'r' then 1 end) as ndet_r,
        count(case when band = 'i' then 1 end) as ndet_i,
        count(case when band = 'z' then 1 end) as ndet_z,
        count(case when band = 'y' then 1 end) as ndet_y
    from lsst_det_offsets
    group by objectId
),

lsst_alert_stats as (
    select
        cast(diaObjectId as varchar) as objectId,
        count(*) as n_alerts,
        min(night) as first_alert_night,
        max(night) as last_alert_night,
        {{ ateda.last_by('diaSourceId', 'mjd', 'diaSourceId') }} as last_candid,
        {{ ateda.last_by('nDiaSources', 'mjd', 'diaSourceId') }} as ndethist,
        min(mjdstarthist) as mjdstarthist
    from {{ ref('lsst_alert') }}
    where diaObjectId is not null
      and cast(diaObjectId as varchar) in (select objectId from lsst_scope)
    group by cast(diaObjectId as varchar)
),

lsst_fp_stats as (
    select cast(diaObjectId as varchar) as objectId, count(*) as n_forced_photometry
    from {{ ref('dia_forced_source') }}
    where diaObjectId is not null and psfFlux is not null
      and cast(diaObjectId as varchar) in (select objectId from lsst_scope)
    group by cast(diaObjectId as varchar)
),

lsst_objects as (
    select
        'lsst' as survey,
        d.objectId,
        coalesce(a.n_alerts, 0) as n_alerts,
        d.ndet,
        d.ndet_u,
        d.ndet_g,
        d.ndet_r,
        d.ndet_i,
        d.ndet_z,
        d.ndet_y,
        0 as n_non_detections,
        coalesce(f.n_forced_photometry, 0) as n_forced_photometry,
        d.first_mjd,
        d.last_mjd,
        d.last_mjd - d.first_mjd as deltamjd,
        a.first_alert_night,
        a.last_alert_night,
        case
            when d.ra_ref + d.mean_ra_offset < 0 then d.ra_ref + d.mean_ra_offset + 360
            when d.ra_ref + d.mean_ra_offset >= 360 then d.ra_ref + d.mean_ra_offset - 360
            else d.ra_ref + d.mean_ra_offset
        end as mean_ra,
        d.mean_dec,
        d.sigma_ra_arcsec,
        d.sigma_dec_arcsec,
        d.g_r_mean,
        cast(null as double) as g_r_mean_corr,
        cast(null as boolean) as corrected,
        cast(null as boolean) as stellar,
        a.ndethist,
        cast(null as int) as ncovhist,
        a.mjdstarthist,
        a.last_candid
    from lsst_det_stats as d
    left join lsst_alert_stats as a on a.objectId = d.objectId
    left join lsst_fp_stats as f on f.objectId = d.objectId
)

select * from ztf_objects
union all
select * from lsst_objects
