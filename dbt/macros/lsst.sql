{#-
  Rubin/LSST domain rules, one home each (dbt/README.md "Rubin/LSST"). Staging applies
  them once per source row; the models downstream select the derived columns.
-#}

{#
  AB magnitude of a flux in nJy: 31.4 - 2.5 log10(flux) (the AB zero point is 3631 Jy =
  10^(31.4/2.5) nJy). Null for flux <= 0 or null: a difference flux can be negative.
#}
{% macro njy_to_ab_mag(flux) -%}
  case when {{ flux }} > 0 then 31.4 - 2.5 * log10({{ flux }}) end
{%- endmacro %}

{# Uncertainty of that magnitude: 1.0857 * fluxErr / flux (2.5 / ln 10); null for flux <= 0. #}
{% macro njy_to_ab_mag_err(flux, flux_err) -%}
  case when {{ flux }} > 0 then 1.0857 * {{ flux_err }} / {{ flux }} end
{%- endmacro %}

{# Sign of a difference flux as ZTF's isdiffpos: +1 when > 0, -1 otherwise, null when unknown. #}
{% macro flux_sign(flux) -%}
  case when {{ flux }} > 0 then 1 when {{ flux }} is not null then -1 end
{%- endmacro %}

{#
  Rubin's observing night (dayObs, the bronze partition of bronze.lsst_alerts): the UTC
  date of midpointMjdTai - 0.5 d (the night is named after the local date at Cerro Pachon
  when it starts: UTC-12 h keeps one night in one date).
#}
{% macro lsst_day_obs(mjd) -%}
  {{ ateda.date_from_jd('(' ~ mjd ~ ') + 2400000.0') }}
{%- endmacro %}

{# Band letter of a ZTF filter id (1 g, 2 r, 3 i): gold's common band column. #}
{% macro ztf_band(fid) -%}
  case {{ fid }} when 1 then 'g' when 2 then 'r' when 3 then 'i' end
{%- endmacro %}

{#
  NaN as null. Rubin writes NaN for a quantity it could not measure (e.g.
  diaObject.firstDiaSourceMjdTai of a new object); silver stores null instead, so that
  comparisons and aggregates skip it (DuckDB orders NaN above every number).
#}
{% macro nan_to_null(expr) -%}
  {{ return(adapter.dispatch('nan_to_null', 'ateda')(expr)) }}
{%- endmacro %}
{% macro default__nan_to_null(expr) -%}
  case when {{ expr }} <> {{ expr }} then null else {{ expr }} end
{%- endmacro %}
{% macro duckdb__nan_to_null(expr) -%}
  case when isnan({{ expr }}) then null else {{ expr }} end
{%- endmacro %}

{#
  Whether a survey's bronze table is there to read. Every `ateda ingest` creates both
  tables, so only bronze.lsst_alerts can be missing: in a lakehouse last written before
  Rubin support, until its next ingest. DuckDB: its metadata.json is known (the runner
  resolves it from the SQLite catalog). StarRocks: var `surveys` (default both).
#}
{% macro survey_enabled(survey) -%}
  {%- if target.type == 'duckdb' -%}
    {%- if survey == 'ztf' -%}
      {{ return(true) }}
    {%- else -%}
      {{ return(ateda.bronze_lsst_alerts_metadata() != '') }}
    {%- endif -%}
  {%- else -%}
    {{ return(survey in var('surveys', ['ztf', 'lsst'])) }}
  {%- endif -%}
{%- endmacro %}

{% macro bronze_lsst_alerts_metadata() -%}
  {{ return(var('bronze_lsst_alerts_metadata', '') or env_var('ATEDA_BRONZE_LSST_ALERTS_METADATA', '')) }}
{%- endmacro %}

{#
  A staging select from column specs (expression, alias, type): float and double columns
  read as plain fields go through nan_to_null; then `derived` (expression, alias, type)
  computed from those cleaned columns by name. When the survey's bronze table is absent,
  the same columns, typed, with no rows: the models downstream build (empty) either way.
#}
{% macro typed_select(columns, from_clause, enabled, where=none, derived=[]) -%}
{%- if enabled %}
select
    cleaned.*{% for expr, alias, type in derived %},
    {{ expr }} as {{ alias }}{% endfor %}
from (
    select
    {%- for expr, alias, type in columns %}
        {% if type in ('float', 'double') and '(' not in expr and ' ' not in expr %}{{ ateda.nan_to_null(expr) }}{% else %}{{ expr }}{% endif %} as {{ alias }}{{ ',' if not loop.last }}
    {%- endfor %}
    {{ from_clause }}
    {%- if where %}
    where {{ where }}
    {%- endif %}
) as cleaned
{%- else %}
select
{%- for expr, alias, type in columns + derived %}
    cast(null as {{ type }}) as {{ alias }}{{ ',' if not loop.last }}
{%- endfor %}
from (select 1 as no_bronze_table) as empty_source
where 1 = 0
{%- endif %}
{%- endmacro %}

{#
  The diaSource fields silver keeps, as (expression, alias, type) of a diaSource struct
  `s` (the alert's diaSource or an element of prvDiaSources). `is_negative` is 7.3/7.4's
  name of isNegative.
#}
{% macro lsst_dia_source_columns(s) -%}
{{ return([
    (s ~ '.diaSourceId', 'diaSourceId', 'bigint'),
    (s ~ '.visit', 'visit', 'bigint'),
    (s ~ '.detector', 'detector', 'int'),
    (s ~ '.ssObjectId', 'ssObjectId', 'bigint'),
    (s ~ '.parentDiaSourceId', 'parentDiaSourceId', 'bigint'),
    (s ~ '.midpointMjdTai', 'midpointMjdTai', 'double'),
    (s ~ '.ra', 'ra', 'double'),
    (s ~ '.raErr', 'raErr', 'float'),
    (s ~ '.dec', 'dec', 'double'),
    (s ~ '.decErr', 'decErr', 'float'),
    (s ~ '.ra_dec_Cov', 'ra_dec_Cov', 'float'),
    (s ~ '.x', 'x', 'float'),
    (s ~ '.y', 'y', 'float'),
    (s ~ '.centroid_flag', 'centroid_flag', 'boolean'),
    (s ~ '.apFlux', 'apFlux', 'float'),
    (s ~ '.apFluxErr', 'apFluxErr', 'float'),
    (s ~ '.snr', 'snr', 'float'),
    (s ~ '.psfFlux', 'psfFlux', 'float'),
    (s ~ '.psfFluxErr', 'psfFluxErr', 'float'),
    (s ~ '.psfChi2', 'psfChi2', 'float'),
    (s ~ '.psfNdata', 'psfNdata', 'int'),
    (s ~ '.psfFlux_flag', 'psfFlux_flag', 'boolean'),
    (s ~ '.scienceFlux', 'scienceFlux', 'float'),
    (s ~ '.scienceFluxErr', 'scienceFluxErr', 'float'),
    (s ~ '.templateFlux', 'templateFlux', 'float'),
    (s ~ '.templateFluxErr', 'templateFluxErr', 'float'),
    (s ~ '.trailFlux', 'trailFlux', 'float'),
    (s ~ '.trailLength', 'trailLength', 'float'),
    (s ~ '.dipoleMeanFlux', 'dipoleMeanFlux', 'float'),
    (s ~ '.extendedness', 'extendedness', 'float'),
    (s ~ '.reliability', 'reliability', 'float'),
    (s ~ '.band', 'band', 'string'),
    ('coalesce(' ~ s ~ '.isNegative, ' ~ s ~ '.is_negative)', 'isNegative', 'boolean'),
    (s ~ '.isDipole', 'isDipole', 'boolean'),
    (s ~ '.pixelFlags', 'pixelFlags', 'boolean'),
    (s ~ '.pixelFlags_bad', 'pixelFlags_bad', 'boolean'),
    (s ~ '.pixelFlags_cr', 'pixelFlags_cr', 'boolean'),
    (s ~ '.pixelFlags_edge', 'pixelFlags_edge', 'boolean'),
    (s ~ '.pixelFlags_saturated', 'pixelFlags_saturated', 'boolean'),
    (s ~ '.pixelFlags_streak', 'pixelFlags_streak', 'boolean'),
    (s ~ '.glint_trail', 'glint_trail', 'boolean'),
    (s ~ '.timeProcessedMjdTai', 'timeProcessedMjdTai', 'double'),
    (s ~ '.timeWithdrawnMjdTai', 'timeWithdrawnMjdTai', 'double'),
]) }}
{%- endmacro %}

{#
  Columns derived once from a diaSource/diaForcedSource's cleaned fields (by name, see
  typed_select): mjd (midpointMjdTai, TAI; gold's common time axis), night (dayObs), AB
  magnitude and error from psfFlux, the sign of the difference flux.
#}
{% macro lsst_photometry_columns() -%}
{{ return([
    ('midpointMjdTai', 'mjd', 'double'),
    (ateda.lsst_day_obs('midpointMjdTai'), 'night', 'date'),
    (ateda.njy_to_ab_mag('cast(psfFlux as double)'), 'mag', 'double'),
    (ateda.njy_to_ab_mag_err('cast(psfFlux as double)', 'cast(psfFluxErr as double)'), 'e_mag', 'double'),
    (ateda.flux_sign('psfFlux'), 'isdiffpos', 'int'),
]) }}
{%- endmacro %}
