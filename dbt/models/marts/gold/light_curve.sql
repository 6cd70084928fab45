{{ config(**ateda.incremental_config(keys=['objectId', 'point_index'], delete_key=['objectId'])) }}
{#-
  Light curves ready to plot: detections, non-detections (upper limits) and the usable
  forced photometry (silver forced_photometry.usable) of each object in one table,
  point_index numbering the points by mjd.
-#}
with scope as (
    {{ ateda.objects_in_scope() }}
),

points as (
    select
        objectId,
        mjd,
        fid,
        'detection' as kind,
        1 as kind_order,
        cast(magpsf as double) as mag,
        cast(sigmapsf as double) as e_mag,
        cast(diffmaglim as double) as diffmaglim,
        isdiffpos,
        mag_corr,
        cast(null as double) as flux,
        cast(null as double) as flux_unc,
        candid,
        pid
    from {{ ref('detection') }}
    where objectId in (select objectId from scope)

    union all

    select
        objectId,
        mjd,
        fid,
        'non_detection' as kind,
        2 as kind_order,
        cast(null as double) as mag,
        cast(null as double) as e_mag,
        cast(diffmaglim as double) as diffmaglim,
        cast(null as integer) as isdiffpos,
        cast(null as double) as mag_corr,
        cast(null as double) as flux,
        cast(null as double) as flux_unc,
        cast(null as bigint) as candid,
        pid
    from {{ ref('non_detection') }}
    where objectId in (select objectId from scope)

    union all

    select
        objectId,
        mjd,
        fid,
        'forced_photometry' as kind,
        3 as kind_order,
        mag,
        e_mag,
        cast(diffmaglim as double) as diffmaglim,
        case when forcediffimflux > 0 then 1 else -1 end as isdiffpos,
        cast(null as double) as mag_corr,
        cast(forcediffimflux as double) as flux,
        cast(forcediffimfluxunc as double) as flux_unc,
        cast(null as bigint) as candid,
        pid
    from {{ ref('forced_photometry') }}
    where objectId in (select objectId from scope) and usable
)

select
    objectId,
    row_number() over (
        partition by objectId order by mjd, kind_order, fid, pid, candid
    ) as point_index,
    mjd,
    fid,
    kind,
    mag,
    e_mag,
    diffmaglim,
    isdiffpos,
    mag_corr,
    flux,
    flux_unc,
    candid,
    pid
from points
order by objectId, point_index
