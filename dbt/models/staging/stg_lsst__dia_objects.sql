{#-
  The diaObject each Rubin alert of the batch carries (Rubin's object record as of that
  alert: position, per-band flux aggregates), with the carrying alert (source_*).
  Typed and empty without bronze.lsst_alerts.
-#}
{%- set bronze = source('bronze', 'lsst_alerts') -%}
{%- set columns = [
    ('a.diaObject.diaObjectId', 'diaObjectId', 'bigint'),
    ('a.diaObject.validityStartMjdTai', 'validityStartMjdTai', 'double'),
    ('a.diaObject.ra', 'ra', 'double'),
    ('a.diaObject.raErr', 'raErr', 'float'),
    ('a.diaObject.dec', 'dec', 'double'),
    ('a.diaObject.decErr', 'decErr', 'float'),
    ('a.diaObject.ra_dec_Cov', 'ra_dec_Cov', 'float'),
    ('a.diaObject.nDiaSources', 'nDiaSources', 'int'),
    ('a.diaObject.firstDiaSourceMjdTai', 'firstDiaSourceMjdTai', 'double'),
    ('a.diaObject.lastDiaSourceMjdTai', 'lastDiaSourceMjdTai', 'double'),
] -%}
{%- for b in ['u', 'g', 'r', 'i', 'z', 'y'] -%}
{%- do columns.extend([
    ('a.diaObject.' ~ b ~ '_psfFluxMean', b ~ '_psfFluxMean', 'float'),
    ('a.diaObject.' ~ b ~ '_psfFluxMeanErr', b ~ '_psfFluxMeanErr', 'float'),
    ('a.diaObject.' ~ b ~ '_psfFluxSigma', b ~ '_psfFluxSigma', 'float'),
    ('a.diaObject.' ~ b ~ '_psfFluxNdata', b ~ '_psfFluxNdata', 'int'),
    ('a.diaObject.' ~ b ~ '_fpFluxMean', b ~ '_fpFluxMean', 'float'),
    ('a.diaObject.' ~ b ~ '_fpFluxMeanErr', b ~ '_fpFluxMeanErr', 'float'),
]) -%}
{%- endfor -%}
{%- set columns = columns + [
    ('a.diaSourceId', 'source_diaSourceId', 'bigint'),
    ('a.diaSource.midpointMjdTai', 'source_mjd', 'double'),
    ('a.night', 'source_night', 'date'),
] -%}
{%- set night_filter = ("a.night = " ~ ateda.date_literal(var('night'))) if var('night') else none -%}
{{ ateda.typed_select(
    columns,
    'from ' ~ bronze ~ ' as a',
    ateda.survey_enabled('lsst'),
    where='a.diaObject is not null' ~ ((' and ' ~ night_filter) if night_filter else '')
) }}
