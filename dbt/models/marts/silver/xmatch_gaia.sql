{{ config(**ateda.incremental_config(keys=['objectId'])) }}
{#- One row per object: the Gaia cross-match of its latest alert. -#}
{{ ateda.keep_one(
    ref('int_xmatch_gaia_rows'),
    keys=['objectId'],
    columns=['objectId', 'neargaia', 'neargaiabright', 'maggaia', 'maggaiabright',
             'source_candid', 'source_mjd'],
    order_by='source_mjd desc, source_candid desc'
) }}
