{#-
  Deterministic deduplication for incremental silver tables.

  The batch's rows and, on an incremental run, the rows already stored under the same
  keys compete; one row per key wins by `order_by`. The winner does not depend on the
  order in which nights are processed, and re-running a night yields the same table.
  `columns` must start with `keys` (StarRocks PRIMARY KEY tables need the keys first).
-#}
{% macro keep_one(batch, keys, columns, order_by) -%}
with batch as (
    select {{ columns | join(', ') }} from {{ batch }}
),
{% if ateda.is_incremental_run() %}
batch_keys as (
    select distinct {{ keys | join(', ') }} from batch
),
stored as (
    select {% for c in columns %}t.{{ c }}{{ ', ' if not loop.last }}{% endfor %}
    from {{ this }} as t
    inner join batch_keys as k
        on {% for k in keys %}t.{{ k }} = k.{{ k }}{{ ' and ' if not loop.last }}{% endfor %}
),
candidates as (
    select * from batch
    union all
    select * from stored
),
{% else %}
candidates as (
    select * from batch
),
{% endif %}
ranked as (
    select
        {{ columns | join(', ') }},
        row_number() over (partition by {{ keys | join(', ') }} order by {{ order_by }}) as keep_rank
    from candidates
)
select {{ columns | join(', ') }}
from ranked
where keep_rank = 1
{%- endmacro %}

{#-
  Objects of one survey whose gold rows a run recomputes, as `objectId` (text: ZTF's
  objectId, Rubin's diaObjectId in decimal): on an incremental run, the objects of the
  batch (var `night`); otherwise every object in silver.
-#}
{% macro objects_in_scope(survey='ztf') -%}
  {%- if survey == 'ztf' -%}
    {#- both refs at parse time, so that the dependency is known whichever branch runs -#}
    {%- set batch, everything = ref('stg_ztf__alerts'), ref('detection') -%}
    {%- if ateda.is_incremental_run() -%}
      select distinct objectId from {{ batch }}
    {%- else -%}
      select distinct objectId from {{ everything }}
    {%- endif -%}
  {%- else -%}
    {%- set batch, everything = ref('stg_lsst__alerts'), ref('dia_source') -%}
    {%- if ateda.is_incremental_run() -%}
      select distinct cast(diaObjectId as varchar) as objectId from {{ batch }} where diaObjectId is not null
    {%- else -%}
      select distinct cast(diaObjectId as varchar) as objectId from {{ everything }} where diaObjectId is not null
    {%- endif -%}
  {%- endif -%}
{%- endmacro %}
