{#-
  Every forced-photometry point the batch carries, none dropped, with its procstatus and
  two flags (macros/ztf.sql): `measured` (flux and uncertainty present, not 0, not the
  -99999 sentinel; zero point present) and `usable` (measured and procstatus '0'). Magnitude from the
  difference flux, where measured (null otherwise):
  mag = -2.5 log10(|flux * 10^((8.9 - magzpsci)/2.5) * 1e6|) + 23.9,
  e_mag = 1.0857 * unc / |flux|.
-#}
with flagged as (
    select
        *,
        {{ ateda.fp_is_measured('forcediffimflux', 'forcediffimfluxunc', 'magzpsci') }} as measured,
        {{ ateda.fp_is_usable('forcediffimflux', 'forcediffimfluxunc', 'magzpsci', 'procstatus') }} as usable
    from {{ ref('stg_ztf__fp_hists') }}
)

select
    objectId,
    pid,
    jd,
    mjd,
    {{ ateda.date_from_jd('jd') }} as night,
    fid,
    field,
    rcid,
    rfid,
    programid,
    forcediffimflux,
    forcediffimfluxunc,
    magzpsci,
    magzpsciunc,
    diffmaglim,
    exptime,
    sciinpseeing,
    distnr,
    magnr,
    sigmagnr,
    case when measured then
        -2.5 * log10(abs(cast(forcediffimflux as double) * {{ ateda.pow10('(8.9 - cast(magzpsci as double)) / 2.5') }} * 1e6)) + 23.9
    end as mag,
    case when measured then
        1.0857 * cast(forcediffimfluxunc as double) / abs(cast(forcediffimflux as double))
    end as e_mag,
    procstatus,
    measured,
    usable,
    parent_candid,
    parent_jd
from flagged
