{#- PS1 cross-matches each alert of the batch carries, the three matches unpivoted to rows. -#}
{% for i in [1, 2, 3] %}
select
    objectId,
    {{ i }} as match_rank,
    objectidps{{ i }} as objectidps,
    sgmag{{ i }} as sgmag,
    srmag{{ i }} as srmag,
    simag{{ i }} as simag,
    szmag{{ i }} as szmag,
    sgscore{{ i }} as sgscore,
    distpsnr{{ i }} as distpsnr,
    nmtchps,
    candid as source_candid,
    mjd as source_mjd
from {{ ref('stg_ztf__alerts') }}
where objectidps{{ i }} is not null
{% if not loop.last %}union all{% endif %}
{% endfor %}
