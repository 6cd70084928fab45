{#-
  The Rubin alerts of the batch (var `night`, or every night): one row per bronze row,
  the alert's diaSource flattened (macros/lsst.sql lsst_dia_source_columns) and the rules
  of macros/lsst.sql applied once: mjd, night, AB magnitude, sign of the flux, NaN as
  null, the object id (diaSource.diaObjectId, else the carried diaObject's), has_stamp,
  mjdstarthist (first detection of the object in Rubin's history: the diaObject's
  firstDiaSourceMjdTai; Rubin leaves it NaN for a brand-new object, whose only diaSource,
  nDiaSources <= 1, is then this alert's).
  The stamps' byte ranges (packed layout) as typed nulls when bronze predates them
  (macros/optional_columns.sql). Typed and empty when the lakehouse has no
  bronze.lsst_alerts.
-#}
{%- set bronze = source('bronze', 'lsst_alerts') -%}
{%- set bronze_columns = ateda.bronze_columns(bronze, ateda.survey_enabled('lsst')) -%}
{%- set columns = [
    ('a.diaSourceId', 'alert_diaSourceId', 'bigint'),
    ('a.alertId', 'alertId', 'bigint'),
    ('coalesce(a.diaSource.diaObjectId, a.diaObject.diaObjectId)', 'diaObjectId', 'bigint'),
    ('a.night', 'alert_night', 'date'),
    ('a.observation_reason', 'observation_reason', 'string'),
    ('a.target_name', 'target_name', 'string'),
    ('a.ingest_schema_version', 'ingest_schema_version', 'string'),
    ('a.ingest_source', 'ingest_source', 'string'),
    ('a.ingest_run_id', 'ingest_run_id', 'string'),
    ('a.cutout_science_uri', 'cutout_science_uri', 'string'),
    ('a.cutout_template_uri', 'cutout_template_uri', 'string'),
    ('a.cutout_difference_uri', 'cutout_difference_uri', 'string'),
] + ateda.cutout_range_columns(bronze_columns, 'a') + [
    (ateda.list_length('a.prvDiaSources'), 'n_prv_dia_sources', 'int'),
    (ateda.list_length('a.prvDiaForcedSources'), 'n_prv_dia_forced_sources', 'int'),
    ('a.ssSource is not null', 'has_ss_source', 'boolean'),
    ('a.diaObject is not null', 'has_dia_object', 'boolean'),
    ('a.diaObject.nDiaSources', 'nDiaSources', 'int'),
    ('a.diaObject.firstDiaSourceMjdTai', 'firstDiaSourceMjdTai', 'double'),
    ('a.diaObject.lastDiaSourceMjdTai', 'lastDiaSourceMjdTai', 'double'),
    (ateda.has_stamp('a.cutout_science_uri', 'a.cutout_template_uri', 'a.cutout_difference_uri'), 'has_stamp', 'boolean'),
] + ateda.lsst_dia_source_columns('a.diaSource') -%}
{%- set derived = ateda.lsst_photometry_columns() + [
    ('coalesce(firstDiaSourceMjdTai, case when coalesce(nDiaSources, 1) <= 1 then midpointMjdTai end)',
     'mjdstarthist', 'double'),
] -%}
{{ ateda.typed_select(
    columns,
    'from ' ~ bronze ~ ' as a',
    ateda.survey_enabled('lsst'),
    where=("a.night = " ~ ateda.date_literal(var('night'))) if var('night') else none,
    derived=derived
) }}
