{{ config(meta={'dagster': {'ref': {'name': 'light_curve'}}}) }}
{#- Each (survey, object)'s light curve has exactly its detections + non-detections + forced photometry. -#}
with lc as (
    select survey, objectId, count(*) as n_points, max(point_index) as max_index
    from {{ ref('light_curve') }}
    group by survey, objectId
)

select o.survey, o.objectId, o.ndet, o.n_non_detections, o.n_forced_photometry, lc.n_points, lc.max_index
from {{ ref('object') }} as o
left join lc on lc.survey = o.survey and lc.objectId = o.objectId
where lc.n_points is null
   or lc.n_points <> o.ndet + o.n_non_detections + o.n_forced_photometry
   or lc.max_index <> lc.n_points
