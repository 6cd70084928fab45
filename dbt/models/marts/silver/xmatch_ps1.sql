{{ config(**ateda.incremental_config(keys=['objectId', 'match_rank'])) }}
{#- One row per (object, match rank 1..3): the PS1 matches of its latest alert. -#}
{{ ateda.keep_one(
    ref('int_xmatch_ps1_rows'),
    keys=['objectId', 'match_rank'],
    columns=['objectId', 'match_rank', 'objectidps', 'sgmag', 'srmag', 'simag', 'szmag',
             'sgscore', 'distpsnr', 'nmtchps', 'source_candid', 'source_mjd'],
    order_by='source_mjd desc, source_candid desc'
) }}
