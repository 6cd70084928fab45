{#-
  prvDiaSources of the batch's Rubin alerts (earlier detections of the object, up to a
  year), one row per element, with the carrying alert (parent_diaSourceId, parent_mjd).
  The same diaSource columns and derived columns as stg_lsst__alerts; diaObjectId falls
  back to the carrying alert's object (the history is that object's). Typed and empty
  without bronze.lsst_alerts.
-#}
{%- set bronze = source('bronze', 'lsst_alerts') -%}
{%- set columns = [
    ('coalesce(p.src.diaObjectId, a.diaSource.diaObjectId, a.diaObject.diaObjectId)', 'diaObjectId', 'bigint'),
    ('a.diaSourceId', 'parent_diaSourceId', 'bigint'),
    ('a.diaSource.midpointMjdTai', 'parent_mjd', 'double'),
    ('a.night', 'parent_night', 'date'),
] + ateda.lsst_dia_source_columns('p.src') -%}
{%- set derived = ateda.lsst_photometry_columns() -%}
{{ ateda.typed_select(
    columns,
    'from ' ~ bronze ~ ' as a ' ~ ateda.explode('a.prvDiaSources', 'p', 'src'),
    ateda.survey_enabled('lsst'),
    where=("a.night = " ~ ateda.date_literal(var('night'))) if var('night') else none,
    derived=derived
) }}
