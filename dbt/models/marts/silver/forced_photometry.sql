{{ config(**ateda.incremental_config(keys=['objectId', 'pid'])) }}
{#-
  One row per forced-photometry point (objectId, pid): every fp_hists point, with its
  procstatus and the flags measured/usable (only usable points have a trustworthy
  magnitude). Among copies carried by several alerts, the earliest carrying alert wins
  (macros/ztf.sql, the same rule as detection).
-#}
{{ ateda.keep_one(
    ref('int_forced_photometry_rows'),
    keys=['objectId', 'pid'],
    columns=['objectId', 'pid', 'jd', 'mjd', 'night', 'fid', 'field', 'rcid', 'rfid',
             'programid', 'forcediffimflux', 'forcediffimfluxunc', 'magzpsci', 'magzpsciunc',
             'diffmaglim', 'exptime', 'sciinpseeing', 'distnr', 'magnr', 'sigmagnr', 'mag',
             'e_mag', 'procstatus', 'measured', 'usable', 'parent_candid', 'parent_jd'],
    order_by=ateda.earliest_carrier_order()
) }}
