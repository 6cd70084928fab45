{{ config(**ateda.incremental_config(keys=['survey', 'objectId', 'point_index'], delete_key=['survey', 'objectId'], distribute_by='objectId')) }}
{#-
  Light curves ready to plot, ZTF and Rubin side by side: detections, non-detections
  (upper limits, ZTF) and the usable forced photometry of each (survey, object) in one
  table, point_index numbering the points by mjd. ZTF: magpsf, forced photometry of silver
  forced_photometry.usable, flux in DN. Rubin: every dia_source and the dia_forced_source
  points with a psfFlux, flux in nJy, mag the AB magnitude of psfFlux (null for flux <= 0), time
  midpointMjdTai.
-#}
with scope as (
    {{ ateda.objects_in_scope('ztf') }}
),

lsst_scope as (
    {{ ateda.objects_in_scope('lsst') }}
),

points as (
    select
        'ztf' as survey,
        objectId,
        mjd,
        {{ ateda.ztf_band('fid') }} as band,
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
        cast(null as varchar) as flux_unit,
        candid,
        pid,
        cast(null as bigint) as diaForcedSourceId
    from {{ ref('detection') }}
    where objectId in (select objectId from scope)

    union all

    select
        'ztf' as survey,
        objectId,
        mjd,
        {{ ateda.ztf_band('fid') }} as band,
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
        cast(null as varchar) as flux_unit,
        cast(null as bigint) as candid,
        pid,
        cast(null as bigint) as diaForcedSourceId
    from {{ ref('non_detection') }}
    where objectId in (select objectId from scope)

    union all

    select
        'ztf' as survey,
        objectId,
        mjd,
        {{ ateda.ztf_band('fid') }} as band,
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
        'DN' as flux_unit,
        cast(null as bigint) as candid,
        pid,
        cast(null as bigint) as diaForcedSourceId
    from {{ ref('forced_photometry') }}
    where objectId in (select objectId from scope) and usable

    union all

    select
        'lsst' as survey,
        cast(diaObjectId as varchar) as objectId,
        mjd,
        band,
        cast(null as integer) as fid,
        'detection' as kind,
        1 as kind_order,
        mag,
        e_mag,
        cast(null as double) as diffmaglim,
        isdiffpos,
        cast(null as double) as mag_corr,
        cast(psfFlux as double) as flux,
        cast(psfFluxErr as double) as flux_unc,
        'nJy' as flux_unit,
        diaSourceId as candid,
        visit as pid,
        cast(null as bigint) as diaForcedSourceId
    from {{ ref('dia_source') }}
    where diaObjectId is not null
      and cast(diaObjectId as varchar) in (select objectId from lsst_scope)

    union all

    select
        'lsst' as survey,
        cast(diaObjectId as varchar) as objectId,
        mjd,
        band,
        cast(null as integer) as fid,
        'forced_photometry' as kind,
        3 as kind_order,
        mag,
        e_mag,
        cast(null as double) as diffmaglim,
        isdiffpos,
        cast(null as double) as mag_corr,
        cast(psfFlux as double) as flux,
        cast(psfFluxErr as double) as flux_unc,
        'nJy' as flux_unit,
        cast(null as bigint) as candid,
        visit as pid,
        diaForcedSourceId
    from {{ ref('dia_forced_source') }}
    where diaObjectId is not null and psfFlux is not null
      and cast(diaObjectId as varchar) in (select objectId from lsst_scope)
)

select
    survey,
    objectId,
    row_number() over (
        partition by survey, objectId
        order by mjd, kind_order, fid, band, pid, candid, diaForcedSourceId
    ) as point_index,
    mjd,
    band,
    fid,
    kind,
    mag,
    e_mag,
    diffmaglim,
    isdiffpos,
    mag_corr,
    flux,
    flux_unc,
    flux_unit,
    candid,
    pid,
    diaForcedSourceId
from points
order by survey, objectId, point_index
