{{ config(**ateda.incremental_config(keys=['diaSourceId'])) }}
{#-
  One row per Rubin detection (diaSourceId): alerts' diaSources and their prvDiaSources.
  Among copies of one diaSource, the alert's own row wins (it has stamps), else the
  earliest carrying alert (by its midpointMjdTai, then diaSourceId), as for ZTF.
-#}
{%- set shared = ateda.lsst_dia_source_columns('s') | map(attribute=1) | list -%}
{%- set derived = ['mjd', 'night', 'mag', 'e_mag', 'isdiffpos'] -%}
{{ ateda.keep_one(
    ref('int_lsst_dia_source_rows'),
    keys=['diaSourceId'],
    columns=['diaSourceId', 'diaObjectId'] + (shared | reject('equalto', 'diaSourceId') | list)
            + derived + ['has_stamp', 'parent_diaSourceId', 'parent_mjd', 'from_alert'],
    order_by='case when from_alert then 0 else 1 end, parent_mjd, parent_diaSourceId'
) }}
