{#-
  Every detection the batch carries, before deduplication: each alert's own candidate
  (from_alert, with stamps) and each prv_candidates row with a non-null candid
  (parent_candid/parent_jd = the alert that carried it). isdiffpos, corrected, stellar
  and has_stamp come derived from staging; mag_corr and the positional errors are
  derived here, once for both kinds of rows.
-#}
{%- set shared = ['objectId', 'candid', 'jd', 'mjd', 'fid', 'pid', 'programid', 'ra', 'dec',
                  'magpsf', 'sigmapsf', 'magap', 'sigmagap', 'isdiffpos', 'diffmaglim', 'rb'] -%}
{%- set shared_tail = ['nid', 'field', 'rcid'] -%}
{%- set shared_nr = ['distnr', 'magnr', 'sigmagnr', 'chinr', 'sharpnr', 'fwhm', 'elong', 'nbad',
                     'magzpsci', 'corrected', 'stellar'] -%}
with alert_rows as (
    select
        {{ shared | join(', ') }}, drb, {{ shared_tail | join(', ') }}, rfid,
        {{ shared_nr | join(', ') }}, has_stamp,
        cast(null as bigint) as parent_candid,
        cast(null as double) as parent_jd,
        true as from_alert
    from {{ ref('stg_ztf__alerts') }}
),

prv_rows as (
    select
        {{ shared | join(', ') }}, cast(null as float) as drb, {{ shared_tail | join(', ') }},
        cast(null as bigint) as rfid,
        {{ shared_nr | join(', ') }}, false as has_stamp,
        parent_candid,
        parent_jd,
        false as from_alert
    from {{ ref('stg_ztf__prv_candidates') }}
    where candid is not null
),

unioned as (
    select * from alert_rows
    union all
    select * from prv_rows
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
    {{ ateda.position_error_ra('fid', 'dec') }} as e_ra,
    {{ ateda.position_error_dec('fid') }} as e_dec,
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
    corrected,
    case
        when magnr is not null and magpsf is not null
             and {{ ateda.pow10('-0.4 * magnr') }} + isdiffpos * {{ ateda.pow10('-0.4 * magpsf') }} > 0
        then -2.5 * log10({{ ateda.pow10('-0.4 * magnr') }} + isdiffpos * {{ ateda.pow10('-0.4 * magpsf') }})
    end as mag_corr,
    stellar,
    has_stamp,
    parent_candid,
    parent_jd,
    from_alert
from unioned
