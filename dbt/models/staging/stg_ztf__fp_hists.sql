{#- fp_hists (forced photometry history) of the batch's alerts, one row per element. -#}
select
    a.objectId,
    a.candid as parent_candid,
    a.night as parent_night,
    a.candidate.jd as parent_jd,
    f.fp.pid as pid,
    f.fp.jd as jd,
    {{ ateda.mjd('f.fp.jd') }} as mjd,
    f.fp.fid as fid,
    f.fp.field as field,
    f.fp.rcid as rcid,
    f.fp.rfid as rfid,
    f.fp.programid as programid,
    f.fp.forcediffimflux as forcediffimflux,
    f.fp.forcediffimfluxunc as forcediffimfluxunc,
    f.fp.procstatus as procstatus,
    f.fp.magzpsci as magzpsci,
    f.fp.magzpsciunc as magzpsciunc,
    f.fp.diffmaglim as diffmaglim,
    f.fp.exptime as exptime,
    f.fp.sciinpseeing as sciinpseeing,
    f.fp.distnr as distnr,
    f.fp.magnr as magnr,
    f.fp.sigmagnr as sigmagnr
from {{ source('bronze', 'alerts') }} as a
{{ ateda.explode('a.fp_hists', 'f', 'fp') }}
{% if var('night') %}
where a.night = {{ ateda.date_literal(var('night')) }}
{% endif %}
