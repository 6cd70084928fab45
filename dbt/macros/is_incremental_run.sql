{#-
  Whether this run of the current model is incremental: the logic of dbt's own is_incremental macro,
  under its own name (it must not shadow dbt's macro), with one exception so that
  `dbt compile --target starrocks` works with no server: when compiling for StarRocks
  the relation is not looked up (that needs a connection) and the full-build SQL is
  compiled. Pass `--vars '{starrocks_online_compile: true}'` to compile against a live
  cluster instead. Every model and macro of this project calls `ateda.is_incremental_run()`.
-#}
{% macro is_incremental_run() %}
    {% if not execute %}
        {{ return(False) }}
    {% elif target.type == 'starrocks' and flags.WHICH == 'compile' and not var('starrocks_online_compile', false) %}
        {{ return(False) }}
    {% else %}
        {% set relation = adapter.get_relation(this.database, this.schema, this.table) %}
        {{ return(relation is not none
                  and relation.type == 'table'
                  and model.config.materialized == 'incremental'
                  and not should_full_refresh()) }}
    {% endif %}
{% endmacro %}
