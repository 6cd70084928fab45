{{ config(**ateda.incremental_config(keys=['diaObjectId'])) }}
{#-
  One row per Rubin diaObject: its latest version. Every alert carries the object as
  Rubin knew it then; the latest is the one carried by the alert with the latest
  midpointMjdTai, ties broken by the larger validityStartMjdTai (null counts as oldest),
  then the larger alert diaSourceId. Nights processed in any order give the same row.
-#}
{%- set bands = ['u', 'g', 'r', 'i', 'z', 'y'] -%}
{%- set per_band = [] -%}
{%- for b in bands -%}
{%- do per_band.extend([b ~ '_psfFluxMean', b ~ '_psfFluxMeanErr', b ~ '_psfFluxSigma',
                         b ~ '_psfFluxNdata', b ~ '_fpFluxMean', b ~ '_fpFluxMeanErr']) -%}
{%- endfor -%}
{{ ateda.keep_one(
    ref('stg_lsst__dia_objects'),
    keys=['diaObjectId'],
    columns=['diaObjectId', 'validityStartMjdTai', 'ra', 'raErr', 'dec', 'decErr', 'ra_dec_Cov',
             'nDiaSources', 'firstDiaSourceMjdTai', 'lastDiaSourceMjdTai'] + per_band
            + ['source_diaSourceId', 'source_mjd', 'source_night'],
    order_by='source_mjd desc, coalesce(validityStartMjdTai, -1) desc, source_diaSourceId desc'
) }}
