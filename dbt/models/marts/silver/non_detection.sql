{{ config(**ateda.incremental_config(keys=['objectId', 'fid', 'mjd'])) }}
{#- One row per non-detection (objectId, fid, mjd): the 5-sigma upper limit diffmaglim. -#}
{{ ateda.keep_one(
    ref('int_non_detection_rows'),
    keys=['objectId', 'fid', 'mjd'],
    columns=['objectId', 'fid', 'mjd', 'jd', 'night', 'diffmaglim', 'pid', 'nid', 'field',
             'rcid', 'programid', 'parent_candid'],
    order_by='parent_candid'
) }}
