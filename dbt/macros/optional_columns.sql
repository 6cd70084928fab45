{#-
  Bronze columns a table may lack: those the bronze contract gained after the table was
  last written by an older `ateda` (e.g. cutout_<kind>_offset/_length, issue 17). Staging
  reads such a column through `optional_column`: the column when the table has it, else a
  typed null, so a lakehouse written before the change still builds.
-#}

{#
  The column names (lower case) of a bronze source relation, when the command runs
  queries anyway (`dbt run`, `build`, `test`, `retry`, `show`; the staging models are
  ephemeral, compiled into the models and tests that use them): one `select * ... limit 0`
  of the source, on either adapter (DuckDB: the iceberg_scan of the table's
  metadata.json; StarRocks: the external catalog's table). Otherwise (parse, compile,
  docs: `dbt compile --target starrocks` needs no server) none, read as "every column
  present". `enabled` false (the survey's table is absent): none, nothing is queried.
#}
{% macro bronze_columns(relation, enabled=true) -%}
  {%- if execute and enabled and flags.WHICH in ('run', 'build', 'test', 'retry', 'show') -%}
    {%- set result = run_query('select * from ' ~ relation ~ ' limit 0') -%}
    {{ return(result.column_names | map('lower') | list) }}
  {%- endif -%}
  {{ return(none) }}
{%- endmacro %}

{# `qualifier.name` when `columns` (bronze_columns) is none or holds it, else a typed null. #}
{% macro optional_column(columns, qualifier, name, type) -%}
  {%- if columns is none or (name | lower) in columns -%}
    {{ return(qualifier ~ '.' ~ name) }}
  {%- else -%}
    {{ return('cast(null as ' ~ type ~ ')') }}
  {%- endif -%}
{%- endmacro %}

{#
  The stamps' byte ranges (packed cutout layout, docs/cutouts.md) as (expression, alias,
  type) specs: cutout_<kind>_offset and cutout_<kind>_length for science, template and
  difference; null where the whole object at cutout_<kind>_uri is the stamp (per-stamp
  layout) or the table predates the columns.
#}
{% macro cutout_range_columns(columns, qualifier) -%}
  {%- set out = [] -%}
  {%- for kind in ('science', 'template', 'difference') -%}
    {%- for part in ('offset', 'length') -%}
      {%- set name = 'cutout_' ~ kind ~ '_' ~ part -%}
      {%- do out.append((ateda.optional_column(columns, qualifier, name, 'bigint'), name, 'bigint')) -%}
    {%- endfor -%}
  {%- endfor -%}
  {{ return(out) }}
{%- endmacro %}
