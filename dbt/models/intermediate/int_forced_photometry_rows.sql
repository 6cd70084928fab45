{#-
  Forced photometry the batch carries, cleaned (ztf-domain.md): flux and its uncertainty
  present and not 0 or -99999, procstatus '0'. Magnitude from the difference flux:
  mag = -2.5 log10(|flux * 10^((8.9 - magzpsci)/2.5) * 1e6|) + 23.9,
  e_mag = 1.0857 * unc / |flux|.
-#}
with cleaned as (
    select *
    from {{ ref('stg_ztf__fp_hists') }}
    where forcediffimflux is not null
      and forcediffimfluxunc is not null
      and forcediffimflux not in (0, -99999)
      and forcediffimfluxunc not in (0, -99999)
      and procstatus = '0'
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
    -2.5 * log10(abs(cast(forcediffimflux as double) * {{ ateda.pow10('(8.9 - cast(magzpsci as double)) / 2.5') }} * 1e6)) + 23.9 as mag,
    1.0857 * cast(forcediffimfluxunc as double) / abs(cast(forcediffimflux as double)) as e_mag,
    procstatus,
    parent_candid
from cleaned
