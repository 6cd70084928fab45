{#-
  prvDiaForcedSources of the batch's Rubin alerts (forced photometry at the object's
  position, up to a year), one row per element, with the carrying alert. mjd, night, AB
  magnitude and flux sign derived once (macros/lsst.sql). Typed and empty without
  bronze.lsst_alerts.
-#}
{%- set bronze = source('bronze', 'lsst_alerts') -%}
{%- set columns = [
    ('f.fs.diaForcedSourceId', 'diaForcedSourceId', 'bigint'),
    ('coalesce(f.fs.diaObjectId, a.diaSource.diaObjectId, a.diaObject.diaObjectId)', 'diaObjectId', 'bigint'),
    ('f.fs.visit', 'visit', 'bigint'),
    ('f.fs.detector', 'detector', 'int'),
    ('f.fs.midpointMjdTai', 'midpointMjdTai', 'double'),
    ('f.fs.ra', 'ra', 'double'),
    ('f.fs.dec', 'dec', 'double'),
    ('f.fs.psfFlux', 'psfFlux', 'float'),
    ('f.fs.psfFluxErr', 'psfFluxErr', 'float'),
    ('f.fs.scienceFlux', 'scienceFlux', 'float'),
    ('f.fs.scienceFluxErr', 'scienceFluxErr', 'float'),
    ('f.fs.band', 'band', 'string'),
    ('f.fs.timeProcessedMjdTai', 'timeProcessedMjdTai', 'double'),
    ('f.fs.timeWithdrawnMjdTai', 'timeWithdrawnMjdTai', 'double'),
    ('a.diaSourceId', 'parent_diaSourceId', 'bigint'),
    ('a.diaSource.midpointMjdTai', 'parent_mjd', 'double'),
    ('a.night', 'parent_night', 'date'),
] -%}
{%- set derived = ateda.lsst_photometry_columns() -%}
{{ ateda.typed_select(
    columns,
    'from ' ~ bronze ~ ' as a ' ~ ateda.explode('a.prvDiaForcedSources', 'f', 'fs'),
    ateda.survey_enabled('lsst'),
    where=("a.night = " ~ ateda.date_literal(var('night'))) if var('night') else none,
    derived=derived
) }}
