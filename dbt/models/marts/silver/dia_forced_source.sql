{{ config(**ateda.incremental_config(keys=['diaForcedSourceId'])) }}
{#-
  One row per Rubin forced-photometry point (diaForcedSourceId), from the alerts'
  prvDiaForcedSources; psfFlux in nJy with its AB magnitude. Among copies carried by
  several alerts, the earliest carrying alert wins (as dia_source).
-#}
{{ ateda.keep_one(
    ref('stg_lsst__prv_dia_forced_sources'),
    keys=['diaForcedSourceId'],
    columns=['diaForcedSourceId', 'diaObjectId', 'visit', 'detector', 'midpointMjdTai', 'mjd',
             'night', 'ra', 'dec', 'band', 'psfFlux', 'psfFluxErr', 'mag', 'e_mag', 'isdiffpos',
             'scienceFlux', 'scienceFluxErr', 'timeProcessedMjdTai', 'timeWithdrawnMjdTai',
             'parent_diaSourceId', 'parent_mjd'],
    order_by='parent_mjd, parent_diaSourceId'
) }}
