{#-
  prv_candidates of the batch's alerts, one row per element, with the carrying alert, and
  the rules of macros/ztf.sql applied once: mjd, isdiffpos as a sign, corrected, stellar.
  A history row has no PS1 match of its own: stellar uses the carrying alert's closest
  PS1 source (the same sky position), as ALeRCE does.
-#}
select
    a.objectId,
    a.candid as parent_candid,
    a.night as parent_night,
    a.candidate.jd as parent_jd,
    p.prv.candid as candid,
    p.prv.jd as jd,
    {{ ateda.mjd('p.prv.jd') }} as mjd,
    p.prv.fid as fid,
    p.prv.pid as pid,
    p.prv.programid as programid,
    p.prv.diffmaglim as diffmaglim,
    {{ ateda.isdiffpos_sign('p.prv.isdiffpos') }} as isdiffpos,
    p.prv.nid as nid,
    p.prv.rcid as rcid,
    p.prv.field as field,
    p.prv.ra as ra,
    p.prv.dec as dec,
    p.prv.magpsf as magpsf,
    p.prv.sigmapsf as sigmapsf,
    p.prv.magap as magap,
    p.prv.sigmagap as sigmagap,
    p.prv.distnr as distnr,
    p.prv.magnr as magnr,
    p.prv.sigmagnr as sigmagnr,
    p.prv.chinr as chinr,
    p.prv.sharpnr as sharpnr,
    p.prv.rb as rb,
    p.prv.rbversion as rbversion,
    p.prv.fwhm as fwhm,
    p.prv.elong as elong,
    p.prv.nbad as nbad,
    p.prv.magzpsci as magzpsci,
    {{ ateda.is_corrected('p.prv.distnr') }} as corrected,
    {{ ateda.is_stellar('a.candidate.distpsnr1', 'a.candidate.sgscore1', 'p.prv.chinr', 'p.prv.sharpnr') }} as stellar
from {{ source('bronze', 'alerts') }} as a
{{ ateda.explode('a.prv_candidates', 'p', 'prv') }}
{% if var('night') %}
where a.night = {{ ateda.date_literal(var('night')) }}
{% endif %}
