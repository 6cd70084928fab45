{{ config(meta={'dagster': {'ref': {'name': 'forced_photometry'}}}) }}
{#-
  The forced-photometry flags agree with the values (docs/ztf-domain.md): a magnitude
  exactly where measured, usable only where measured with procstatus '0'.
-#}
select objectId, pid, measured, usable, procstatus, mag, e_mag
from {{ ref('forced_photometry') }}
where measured <> (mag is not null and e_mag is not null)
   or usable <> (measured and coalesce(procstatus = '0', false))
