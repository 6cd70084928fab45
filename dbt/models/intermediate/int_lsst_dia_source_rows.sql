{#-
  Every Rubin detection the batch carries, before deduplication: each alert's own
  diaSource (from_alert, with stamps) and each prvDiaSources element (parent_diaSourceId /
  parent_mjd = the alert that carried it). Every column comes derived from staging.
-#}
{%- set shared = ateda.lsst_dia_source_columns('s') | map(attribute=1) | list
               + ateda.lsst_photometry_columns() | map(attribute=1) | list -%}
with alert_rows as (
    select
        diaObjectId,
        {{ shared | join(', ') }},
        has_stamp,
        cast(null as bigint) as parent_diaSourceId,
        cast(null as double) as parent_mjd,
        true as from_alert
    from {{ ref('stg_lsst__alerts') }}
),

prv_rows as (
    select
        diaObjectId,
        {{ shared | join(', ') }},
        false as has_stamp,
        parent_diaSourceId,
        parent_mjd,
        false as from_alert
    from {{ ref('stg_lsst__prv_dia_sources') }}
)

select * from alert_rows
union all
select * from prv_rows
