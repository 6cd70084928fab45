{{ config(**ateda.incremental_config(keys=['objectId'])) }}
{#-
  One row per object: history span, detections, position, colour, flags.
  Position as ALeRCE: mean of the detections weighted by 1/e^2 (e_ra, e_dec: the
  per-filter positional errors of macros/ztf.sql). ra is averaged as offsets from the
  object's first detection wrapped into [-180, 180), then put back into [0, 360): a
  cluster straddling ra = 0/360 averages near 0, not near 180.
-#}
with scope as (
    {{ ateda.objects_in_scope() }}
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
