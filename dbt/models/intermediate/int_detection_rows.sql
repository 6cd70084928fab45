{#-
  Every detection the batch carries, before deduplication: each alert's own candidate
  (from_alert, with stamps) and each prv_candidates row with a non-null candid
  (parent_candid = the alert that carried it).
-#}
with alert_rows as (
    select
        objectId, candid, jd, mjd, fid, pid, programid, ra, dec, magpsf, sigmapsf,
        magap, sigmagap, isdiffpos as isdiffpos_raw, diffmaglim, rb, drb, nid, field, rcid,
        rfid, distnr, magnr, sigmagnr, chinr, sharpnr, fwhm, elong, nbad, magzpsci,
        (cutout_science_uri is not null
         or cutout_template_uri is not null
         or cutout_difference_uri is not null) as has_stamp,
        cast(null as bigint) as parent_candid,
        true as from_alert
    from {{ ref('stg_ztf__alerts') }}
),

prv_rows as (
    select
        objectId, candid, jd, mjd, fid, pid, programid, ra, dec, magpsf, sigmapsf,
        magap, sigmagap, isdiffpos as isdiffpos_raw, diffmaglim, rb,
        cast(null as float) as drb, nid, field, rcid,
        cast(null as bigint) as rfid, distnr, magnr, sigmagnr, chinr, sharpnr, fwhm, elong,
        nbad, magzpsci,
        false as has_stamp,
        parent_candid,
        false as from_alert
    from {{ ref('stg_ztf__prv_candidates') }}
    where candid is not null
),

unioned as (
    select * from alert_rows
    union all
    select * from prv_rows
),

signed as (
    select
        *,
        case when isdiffpos_raw in ('t', '1') then 1 else -1 end as isdiffpos
    from unioned
)

select
    objectId,
    candid,
    {{ ateda.date_from_jd('jd') }} as night,
    jd,
    mjd,
    fid,
    pid,
    programid,
    ra,
    dec,
    magpsf,
    sigmapsf,
    magap,
    sigmagap,
    isdiffpos,
    diffmaglim,
    rb,
    drb,
    nid,
    field,
    rcid,
    rfid,
    distnr,
    magnr,
    sigmagnr,
    chinr,
    sharpnr,
    fwhm,
    elong,
    nbad,
    magzpsci,
    coalesce(distnr < 1.4, false) as corrected,
    case
        when magnr is not null and magpsf is not null
             and {{ ateda.pow10('-0.4 * magnr') }} + isdiffpos * {{ ateda.pow10('-0.4 * magpsf') }} > 0
        then -2.5 * log10({{ ateda.pow10('-0.4 * magnr') }} + isdiffpos * {{ ateda.pow10('-0.4 * magpsf') }})
    end as mag_corr,
    has_stamp,
    parent_candid,
    from_alert
from signed
