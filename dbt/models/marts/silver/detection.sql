{{ config(**ateda.incremental_config(keys=['objectId', 'candid'])) }}
{#-
  One row per detection (objectId, candid): alert candidates and previous detections,
  the alert's own row preferred (it has stamps), else the earliest carrying alert.
-#}
{{ ateda.keep_one(
    ref('int_detection_rows'),
    keys=['objectId', 'candid'],
    columns=['objectId', 'candid', 'night', 'jd', 'mjd', 'fid', 'pid', 'programid', 'ra', 'dec',
             'magpsf', 'sigmapsf', 'magap', 'sigmagap', 'isdiffpos', 'diffmaglim', 'rb', 'drb',
             'nid', 'field', 'rcid', 'rfid', 'distnr', 'magnr', 'sigmagnr', 'chinr', 'sharpnr',
             'fwhm', 'elong', 'nbad', 'magzpsci', 'corrected', 'mag_corr', 'has_stamp',
             'parent_candid', 'from_alert'],
    order_by='case when from_alert then 0 else 1 end, parent_candid'
) }}
