{#- Custom schemas are used as is: `staging`, `silver`, `gold` (no target-schema prefix). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
  {%- if custom_schema_name is none -%}{{ target.schema | trim }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
