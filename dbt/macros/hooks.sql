{#-
  on-run-start: on the DuckDB target, bronze is read from the metadata.json that the
  SQLite catalog names as current. The runner (ateda_dagster) resolves it and passes
  `--vars '{bronze_alerts_metadata: ..., bronze_lsst_alerts_metadata: ...}'` (each null
  when the lakehouse has no such table yet: that survey's staging reads no rows); fail
  early with a clear message when neither is set.
-#}
{% macro check_bronze_location() -%}
  {%- if execute and target.type == 'duckdb' and flags.WHICH in ('run', 'build') -%}
    {%- if not ateda.bronze_alerts_metadata() and not ateda.bronze_lsst_alerts_metadata() -%}
      {{ exceptions.raise_compiler_error(
        "neither bronze_alerts_metadata nor bronze_lsst_alerts_metadata is set: pass "
        ~ "--vars '{bronze_alerts_metadata: <metadata.json>, bronze_lsst_alerts_metadata: <metadata.json>}' "
        ~ "or run through `python -m ateda_dagster.pipeline` (it reads the SQLite catalog)") }}
    {%- endif -%}
  {%- endif -%}
  select 1
{%- endmacro %}

{% macro bronze_alerts_metadata() -%}
  {{ return(var('bronze_alerts_metadata') or env_var('ATEDA_BRONZE_ALERTS_METADATA', '')) }}
{%- endmacro %}
