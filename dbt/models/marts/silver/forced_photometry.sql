{{ config(**ateda.incremental_config(keys=['objectId', 'pid'])) }}
{#- One row per forced-photometry point (objectId, pid), cleaned, with mag and e_mag. -#}
{{ ateda.keep_one(
    ref('int_forced_photometry_rows'),
    keys=['objectId', 'pid'],
    columns=['objectId', 'pid', 'jd', 'mjd', 'night', 'fid', 'field', 'rcid', 'rfid',
             'programid', 'forcediffimflux', 'forcediffimfluxunc', 'magzpsci', 'magzpsciunc',
             'diffmaglim', 'exptime', 'sciinpseeing', 'distnr', 'magnr', 'sigmagnr', 'mag',
             'e_mag', 'procstatus', 'parent_candid'],
    order_by='parent_candid desc'
) }}
