{{ config(**ateda.incremental_config(keys=['objectId', 'fid'], delete_key=['objectId'])) }}
{#-
  Per (object, filter): magnitude statistics, dm/dt of the rise (ALeRCE's rule, below),
  saturation rate.
-#}
with scope as (
    {{ ateda.objects_in_scope() }}
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
)

select
    s.objectId,
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
    case when s.ndet_corr > 0 then cast(s.ndet_saturated as double) / s.ndet_corr end as saturation_rate
from stats as s
left join best_nd as l on l.objectId = s.objectId and l.fid = s.fid
