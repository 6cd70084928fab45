{#-
  Dialect differences between the embedded default (DuckDB) and the cluster (StarRocks).
  Every macro dispatches on the adapter: `ateda.<name>(...)` resolves to
  `duckdb__<name>` or `starrocks__<name>` (falling back to `default__<name>`).
-#}

{# UTC calendar date of a Julian Date (the bronze `night` partition rule). #}
{% macro date_from_jd(jd) -%}
  {{ return(adapter.dispatch('date_from_jd', 'ateda')(jd)) }}
{%- endmacro %}
{% macro default__date_from_jd(jd) -%}
  (date '1970-01-01' + cast(floor({{ jd }} - 2440587.5) as integer))
{%- endmacro %}
{% macro starrocks__date_from_jd(jd) -%}
  cast(days_add(cast('1970-01-01 00:00:00' as datetime), cast(floor({{ jd }} - 2440587.5) as int)) as date)
{%- endmacro %}

{# Median of a numeric expression (aggregate). #}
{% macro median(expr) -%}
  {{ return(adapter.dispatch('median', 'ateda')(expr)) }}
{%- endmacro %}
{% macro default__median(expr) -%}
  median({{ expr }})
{%- endmacro %}
{% macro starrocks__median(expr) -%}
  percentile_cont({{ expr }}, 0.5)
{%- endmacro %}

{# Number of elements of a (nullable) list column; 0 when null. #}
{% macro list_length(expr) -%}
  {{ return(adapter.dispatch('list_length', 'ateda')(expr)) }}
{%- endmacro %}
{% macro default__list_length(expr) -%}
  coalesce(len({{ expr }}), 0)
{%- endmacro %}
{% macro starrocks__list_length(expr) -%}
  coalesce(array_length({{ expr }}), 0)
{%- endmacro %}

{#
  Lateral explode of a list column into one row per element, used after a FROM item:
  `from t {{ ateda.explode('t.arr', 'u', 'elem') }}` then `u.elem.field`.
#}
{% macro explode(list_expr, alias, column) -%}
  {{ return(adapter.dispatch('explode', 'ateda')(list_expr, alias, column)) }}
{%- endmacro %}
{% macro default__explode(list_expr, alias, column) -%}
  cross join unnest({{ list_expr }}) as {{ alias }}({{ column }})
{%- endmacro %}
{% macro starrocks__explode(list_expr, alias, column) -%}
  cross join lateral unnest({{ list_expr }}) as {{ alias }}({{ column }})
{%- endmacro %}

{# Base-10 power, as double (DuckDB's `^` is XOR in StarRocks: never use operators). #}
{% macro pow10(expr) -%}
  {{ return(adapter.dispatch('pow10', 'ateda')(expr)) }}
{%- endmacro %}
{% macro default__pow10(expr) -%}
  power(10.0, {{ expr }})
{%- endmacro %}

{# A date literal from a 'YYYY-MM-DD' string. #}
{% macro date_literal(value) -%}
  {{ return(adapter.dispatch('date_literal', 'ateda')(value)) }}
{%- endmacro %}
{% macro default__date_literal(value) -%}
  cast('{{ value }}' as date)
{%- endmacro %}

{#
  Config of an incremental model keyed by `keys`.
  DuckDB: delete+insert on `delete_key` (default: the keys): rows of the batch replace
  the stored rows with the same key; descriptions persisted as table/column comments.
  StarRocks: a PRIMARY KEY table (keys first in the select list) where an insert is an
  upsert (dbt-starrocks has no comment macros, so no persist_docs there), hash-distributed
  on `distribute_by` (default: the first key; name a high-cardinality key when the first
  is `survey`).
#}
{% macro incremental_config(keys, delete_key=none, distribute_by=none) -%}
  {{ return(adapter.dispatch('incremental_config', 'ateda')(keys, delete_key, distribute_by)) }}
{%- endmacro %}
{% macro default__incremental_config(keys, delete_key, distribute_by) -%}
  {{ return({
      'materialized': 'incremental',
      'incremental_strategy': 'delete+insert',
      'unique_key': delete_key if delete_key is not none else keys,
      'on_schema_change': 'append_new_columns',
      'persist_docs': {'relation': true, 'columns': true},
  }) }}
{%- endmacro %}
{% macro starrocks__incremental_config(keys, delete_key, distribute_by) -%}
  {{ return({
      'materialized': 'incremental',
      'incremental_strategy': 'default',
      'table_type': 'PRIMARY',
      'keys': keys,
      'distributed_by': [distribute_by or keys[0]],
      'buckets': 8,
  }) }}
{%- endmacro %}

{# Config of a full-rebuild table (small gold/silver tables keyed by `keys`). #}
{% macro table_config(keys) -%}
  {{ return(adapter.dispatch('table_config', 'ateda')(keys)) }}
{%- endmacro %}
{% macro default__table_config(keys) -%}
  {{ return({'materialized': 'table', 'persist_docs': {'relation': true, 'columns': true}}) }}
{%- endmacro %}
{% macro starrocks__table_config(keys) -%}
  {{ return({
      'materialized': 'table',
      'table_type': 'PRIMARY',
      'keys': keys,
      'distributed_by': [keys[0]],
      'buckets': 8,
  }) }}
{%- endmacro %}

{#
  Mean / sample standard deviation that do not depend on the rows' storage order, so a
  re-run of a night yields bit-identical gold tables. DuckDB: the values are collected
  in `order_by` order and aggregated as a list. StarRocks: plain aggregates.
#}
{% macro stable_avg(expr, order_by) -%}
  {{ return(adapter.dispatch('stable_avg', 'ateda')(expr, order_by)) }}
{%- endmacro %}
{% macro default__stable_avg(expr, order_by) -%}
  avg({{ expr }})
{%- endmacro %}
{% macro duckdb__stable_avg(expr, order_by) -%}
  list_avg(list({{ expr }} order by {{ order_by }}) filter (where ({{ expr }}) is not null))
{%- endmacro %}

{% macro stable_stddev(expr, order_by) -%}
  {{ return(adapter.dispatch('stable_stddev', 'ateda')(expr, order_by)) }}
{%- endmacro %}
{% macro default__stable_stddev(expr, order_by) -%}
  stddev_samp({{ expr }})
{%- endmacro %}
{% macro duckdb__stable_stddev(expr, order_by) -%}
  list_stddev_samp(list({{ expr }} order by {{ order_by }}) filter (where ({{ expr }}) is not null))
{%- endmacro %}

{#
  Value of `expr` on the row with the smallest (first_by) / largest (last_by) `order_col`,
  ties broken by `tie_col` so the result never depends on storage order.

  DuckDB: arg_min/arg_max over the (order_col, tie_col) struct; they skip rows whose
  `expr` is NULL, and a NULL field of the struct compares greater than any value.
  StarRocks (3.3): min_by/max_by take one sortable key, and the documentation says
  neither that a STRUCT is one nor which row wins a tie ("the first value of x
  encountered"), so the default form is the first element of an ordered array_agg
  (documented since v3.0: `ARRAY_AGG(col ORDER BY col0 [ASC|DESC] [NULLS FIRST|LAST], ...)`,
  arrays indexed from 1): rows with a NULL `expr` last, then order_col, then tie_col,
  with the NULL placement of DuckDB's struct comparison spelled out (StarRocks puts NULLs
  first in ascending order by default).
#}
{% macro first_by(expr, order_col, tie_col) -%}
  {{ return(adapter.dispatch('first_by', 'ateda')(expr, order_col, tie_col)) }}
{%- endmacro %}
{% macro default__first_by(expr, order_col, tie_col) -%}
  array_agg({{ expr }} order by ({{ expr }}) is null, {{ order_col }} asc nulls last, {{ tie_col }} asc nulls last)[1]
{%- endmacro %}
{% macro duckdb__first_by(expr, order_col, tie_col) -%}
  arg_min({{ expr }}, ({{ order_col }}, {{ tie_col }}))
{%- endmacro %}

{% macro last_by(expr, order_col, tie_col) -%}
  {{ return(adapter.dispatch('last_by', 'ateda')(expr, order_col, tie_col)) }}
{%- endmacro %}
{% macro default__last_by(expr, order_col, tie_col) -%}
  array_agg({{ expr }} order by ({{ expr }}) is null, {{ order_col }} desc nulls first, {{ tie_col }} desc nulls first)[1]
{%- endmacro %}
{% macro duckdb__last_by(expr, order_col, tie_col) -%}
  arg_max({{ expr }}, ({{ order_col }}, {{ tie_col }}))
{%- endmacro %}

{#
  Weighted mean sum(w * x) / sum(w) over the rows where both are non-null, independent
  of the rows' storage order like stable_avg (DuckDB: summed in `order_by` order).
#}
{% macro stable_weighted_avg(expr, weight, order_by) -%}
  {{ return(adapter.dispatch('stable_weighted_avg', 'ateda')(expr, weight, order_by)) }}
{%- endmacro %}
{% macro default__stable_weighted_avg(expr, weight, order_by) -%}
  (sum(case when ({{ expr }}) is not null then ({{ expr }}) * ({{ weight }}) end)
   / sum(case when ({{ expr }}) is not null then ({{ weight }}) end))
{%- endmacro %}
{% macro duckdb__stable_weighted_avg(expr, weight, order_by) -%}
  (list_sum(list(({{ expr }}) * ({{ weight }}) order by {{ order_by }}) filter (where ({{ expr }}) is not null and ({{ weight }}) is not null))
   / list_sum(list({{ weight }} order by {{ order_by }}) filter (where ({{ expr }}) is not null and ({{ weight }}) is not null)))
{%- endmacro %}
