{{ config(**ateda.incremental_config(keys=['survey', 'objectId', 'band'], delete_key=['survey', 'objectId'], distribute_by='objectId')) }}
{#-
  Per (survey, object, band): magnitude statistics, dm/dt of the rise (ALeRCE's rule,
  below), saturation rate. ZTF: magpsf per fid (band g/r/i); Rubin: the AB magnitudes of
  the diaSources' psfFlux (null for flux <= 0: such detections count in ndet but not in
  the magnitude statistics), plus the flux statistics in nJy; no dm/dt (Rubin alerts of
  schema 8.0+ carry no upper limits) and no saturation rate.
-#}
with scope as (
    {{ ateda.objects_in_scope('ztf') }}
),

lsst_scope as (
    {{ ateda.objects_in_scope('lsst') }}
),

det as (
    select d.*
    from {{ ref('detection') }} as d
    where d.objectId in (select objectId from scope)
),

stats as (
    select
        objectId,
        fid,
        count(*) as ndet,
        {{ ateda.stable_avg('cast(magpsf as double)', 'candid') }} as mag_mean,
        {{ ateda.median('cast(magpsf as double)') }} as mag_median,
        min(magpsf) as mag_min,
        max(magpsf) as mag_max,
        {{ ateda.stable_stddev('cast(magpsf as double)', 'candid') }} as mag_sigma,
        {{ ateda.first_by('magpsf', 'mjd', 'candid') }} as mag_first,
        {{ ateda.last_by('magpsf', 'mjd', 'candid') }} as mag_last,
        {{ ateda.first_by('sigmapsf', 'mjd', 'candid') }} as e_mag_first,
        min(mjd) as first_mjd,
        max(mjd) as last_mjd,
        {{ ateda.first_by('corrected', 'mjd', 'candid') }} as corrected,
        {{ ateda.stable_avg('case when corrected then mag_corr end', 'candid') }} as mag_corr_mean,
        count(case when corrected and mag_corr is not null then 1 end) as ndet_corr,
        count(case when corrected and mag_corr < 13.2 then 1 end) as ndet_saturated
    from det
    group by objectId, fid
),

-- dm/dt of the rise, ALeRCE's rule: among the non-detections in the same filter more than
-- 0.5 d before the first detection (a limit minutes earlier gives meaningless rates), the
-- one giving the steepest conservative rise (mag_first + e_mag_first - diffmaglim) / dt.
nd_rates as (
    select
        s.objectId,
        s.fid,
        n.mjd as nd_mjd,
        n.diffmaglim as nd_diffmaglim,
        (cast(s.mag_first as double) + cast(s.e_mag_first as double) - n.diffmaglim)
            / (s.first_mjd - n.mjd) as dmdt,
        row_number() over (
            partition by s.objectId, s.fid
            order by
                (cast(s.mag_first as double) + cast(s.e_mag_first as double) - n.diffmaglim)
                    / (s.first_mjd - n.mjd),
                n.mjd desc
        ) as rate_rank
    from stats as s
    inner join {{ ref('non_detection') }} as n
        on n.objectId = s.objectId and n.fid = s.fid and n.mjd < s.first_mjd - {{ var('dmdt_min_dt', 0.5) }}
),

best_nd as (
    select objectId, fid, nd_mjd, nd_diffmaglim, dmdt
    from nd_rates
    where rate_rank = 1
),

ztf_magstat as (
    select
        'ztf' as survey,
        s.objectId,
        {{ ateda.ztf_band('s.fid') }} as band,
        s.fid,
        s.ndet,
        s.mag_mean,
        s.mag_median,
        s.mag_min,
        s.mag_max,
        s.mag_sigma,
        s.mag_first,
        s.mag_last,
        s.e_mag_first,
        s.first_mjd,
        s.last_mjd,
        s.corrected,
        s.mag_corr_mean,
        l.nd_mjd as dmdt_non_detection_mjd,
        l.nd_diffmaglim as dmdt_non_detection_diffmaglim,
        cast(s.mag_first as double) - l.nd_diffmaglim as dm_first,
        s.first_mjd - l.nd_mjd as dt_first,
        l.dmdt as dmdt_first,
        case when s.ndet_corr > 0 then cast(s.ndet_saturated as double) / s.ndet_corr end as saturation_rate,
        cast(null as double) as flux_mean,
        cast(null as double) as flux_sigma,
        cast(null as double) as flux_max
    from stats as s
    left join best_nd as l on l.objectId = s.objectId and l.fid = s.fid
),

lsst_magstat as (
    select
        'lsst' as survey,
        cast(diaObjectId as varchar) as objectId,
        band,
        cast(null as int) as fid,
        count(*) as ndet,
        {{ ateda.stable_avg('mag', 'diaSourceId') }} as mag_mean,
        {{ ateda.median('mag') }} as mag_median,
        min(mag) as mag_min,
        max(mag) as mag_max,
        {{ ateda.stable_stddev('mag', 'diaSourceId') }} as mag_sigma,
        {{ ateda.first_by('mag', 'mjd', 'diaSourceId') }} as mag_first,
        {{ ateda.last_by('mag', 'mjd', 'diaSourceId') }} as mag_last,
        {{ ateda.first_by('e_mag', 'mjd', 'diaSourceId') }} as e_mag_first,
        min(mjd) as first_mjd,
        max(mjd) as last_mjd,
        cast(null as boolean) as corrected,
        cast(null as double) as mag_corr_mean,
        cast(null as double) as dmdt_non_detection_mjd,
        cast(null as double) as dmdt_non_detection_diffmaglim,
        cast(null as double) as dm_first,
        cast(null as double) as dt_first,
        cast(null as double) as dmdt_first,
        cast(null as double) as saturation_rate,
        {{ ateda.stable_avg('cast(psfFlux as double)', 'diaSourceId') }} as flux_mean,
        {{ ateda.stable_stddev('cast(psfFlux as double)', 'diaSourceId') }} as flux_sigma,
        max(cast(psfFlux as double)) as flux_max
    from {{ ref('dia_source') }}
    where diaObjectId is not null and band is not null
      and cast(diaObjectId as varchar) in (select objectId from lsst_scope)
    group by cast(diaObjectId as varchar), band
)

select * from ztf_magstat
union all
select * from lsst_magstat
