{{ config(**ateda.incremental_config(keys=['objectId', 'rfid'])) }}
{#- One row per (objectId, rfid): the reference image and its nearest source, as last reported. -#}
{{ ateda.keep_one(
    ref('int_reference_rows'),
    keys=['objectId', 'rfid'],
    columns=['objectId', 'rfid', 'fid', 'rcid', 'field', 'magnr', 'sigmagnr', 'chinr', 'sharpnr',
             'ranr', 'decnr', 'jdstartref', 'jdendref', 'mjdstartref', 'mjdendref', 'nframesref',
             'source_candid', 'source_mjd'],
    order_by='source_mjd desc, source_candid desc'
) }}
