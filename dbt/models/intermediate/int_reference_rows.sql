{#- Reference image facts each alert of the batch reports (candidate rfid and nearest source). -#}
select
    objectId,
    rfid,
    fid,
    rcid,
    field,
    magnr,
    sigmagnr,
    chinr,
    sharpnr,
    ranr,
    decnr,
    jdstartref,
    jdendref,
    {{ ateda.mjd('jdstartref') }} as mjdstartref,
    {{ ateda.mjd('jdendref') }} as mjdendref,
    nframesref,
    candid as source_candid,
    mjd as source_mjd
from {{ ref('stg_ztf__alerts') }}
where rfid is not null
