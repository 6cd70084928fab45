{{ config(**ateda.incremental_config(keys=['candid'])) }}
{#- One row per alert: the solar-system (MPC) match; null when ssnamenr is the string 'null'. -#}
select
    candid,
    objectId,
    night,
    mjd,
    case when ssnamenr <> 'null' then ssnamenr end as ssnamenr,
    case when ssnamenr <> 'null' then ssdistnr end as ssdistnr,
    case when ssnamenr <> 'null' then ssmagnr end as ssmagnr,
    coalesce(ssnamenr <> 'null', false) as has_match
from {{ ref('stg_ztf__alerts') }}
