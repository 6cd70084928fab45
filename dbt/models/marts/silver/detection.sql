{{ config(**ateda.incremental_config(keys=['objectId', 'candid'])) }}
{#-
  One row per detection (objectId, candid): alert candidates and previous detections.
  Among copies of one detection, the alert's own row wins (it has stamps and every
  candidate field), else the earliest carrying alert (macros/ztf.sql, the same rule as
  forced_photometry).
-#}
{{ ateda.keep_one(
    ref('int_detection_rows'),
    keys=['objectId', 'candid'],
    columns=['objectId', 'candid', 'night', 'jd', 'mjd', 'fid', 'pid', 'programid', 'ra', 'dec',
             'e_ra', 'e_dec', 'magpsf', 'sigmapsf', 'magap', 'sigmagap', 'isdiffpos', 'diffmaglim',
             'rb', 'drb', 'nid', 'field', 'rcid', 'rfid', 'distnr', 'magnr', 'sigmagnr', 'chinr',
             'sharpnr', 'fwhm', 'elong', 'nbad', 'magzpsci', 'corrected', 'mag_corr', 'stellar',
             'has_stamp', 'parent_candid', 'parent_jd', 'from_alert'],
    order_by='case when from_alert then 0 else 1 end, ' ~ ateda.earliest_carrier_order()
) }}
