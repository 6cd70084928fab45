{#-
  The ssSource (solar-system association) each Rubin alert of the batch carries, 8.0-9.0
  field names mapped onto 10.0+'s where the quantity is the same (eclipticLambda ->
  eclLambda, galacticL -> galLon, heliocentricDist -> helioRange, topocentricDist ->
  topoRange, predictedVMagnitude -> ephVmag, heliocentricX -> helio_x, ...), with the
  detection's time, band and photometry. Typed and empty without bronze.lsst_alerts.
-#}
{%- set bronze = source('bronze', 'lsst_alerts') -%}
{%- set s = 'a.ssSource' -%}
{%- set columns = [
    ('coalesce(' ~ s ~ '.diaSourceId, a.diaSourceId)', 'diaSourceId', 'bigint'),
    (s ~ '.ssObjectId', 'ssObjectId', 'bigint'),
    (s ~ '.designation', 'designation', 'string'),
    ('a.diaSource.midpointMjdTai', 'mjd', 'double'),
    ('a.night', 'night', 'date'),
    ('a.diaSource.band', 'band', 'string'),
    ('a.diaSource.ra', 'ra', 'double'),
    ('a.diaSource.dec', 'dec', 'double'),
    ('a.diaSource.psfFlux', 'psfFlux', 'float'),
    ('a.diaSource.psfFluxErr', 'psfFluxErr', 'float'),
    ('coalesce(' ~ s ~ '.eclLambda, ' ~ s ~ '.eclipticLambda)', 'eclLambda', 'double'),
    ('coalesce(' ~ s ~ '.eclBeta, ' ~ s ~ '.eclipticBeta)', 'eclBeta', 'double'),
    ('coalesce(' ~ s ~ '.galLon, ' ~ s ~ '.galacticL)', 'galLon', 'double'),
    ('coalesce(' ~ s ~ '.galLat, ' ~ s ~ '.galacticB)', 'galLat', 'double'),
    (s ~ '.elongation', 'elongation', 'float'),
    (s ~ '.phaseAngle', 'phaseAngle', 'float'),
    ('coalesce(' ~ s ~ '.topoRange, ' ~ s ~ '.topocentricDist)', 'topoRange', 'float'),
    (s ~ '.topoRangeRate', 'topoRangeRate', 'float'),
    ('coalesce(' ~ s ~ '.helioRange, ' ~ s ~ '.heliocentricDist)', 'helioRange', 'float'),
    (s ~ '.helioRangeRate', 'helioRangeRate', 'float'),
    (s ~ '.ephRa', 'ephRa', 'double'),
    (s ~ '.ephDec', 'ephDec', 'double'),
    ('coalesce(' ~ s ~ '.ephVmag, ' ~ s ~ '.predictedVMagnitude)', 'ephVmag', 'float'),
    (s ~ '.ephRate', 'ephRate', 'float'),
    (s ~ '.ephOffset', 'ephOffset', 'float'),
    (s ~ '.diaDistanceRank', 'diaDistanceRank', 'int'),
    ('coalesce(' ~ s ~ '.helio_x, ' ~ s ~ '.heliocentricX)', 'helio_x', 'float'),
    ('coalesce(' ~ s ~ '.helio_y, ' ~ s ~ '.heliocentricY)', 'helio_y', 'float'),
    ('coalesce(' ~ s ~ '.helio_z, ' ~ s ~ '.heliocentricZ)', 'helio_z', 'float'),
    ('coalesce(' ~ s ~ '.topo_x, ' ~ s ~ '.topocentricX)', 'topo_x', 'float'),
    ('coalesce(' ~ s ~ '.topo_y, ' ~ s ~ '.topocentricY)', 'topo_y', 'float'),
    ('coalesce(' ~ s ~ '.topo_z, ' ~ s ~ '.topocentricZ)', 'topo_z', 'float'),
    ('a.diaSourceId', 'source_diaSourceId', 'bigint'),
] -%}
{%- set night_filter = ("a.night = " ~ ateda.date_literal(var('night'))) if var('night') else none -%}
{{ ateda.typed_select(
    columns,
    'from ' ~ bronze ~ ' as a',
    ateda.survey_enabled('lsst'),
    where='a.ssSource is not null' ~ ((' and ' ~ night_filter) if night_filter else '')
) }}
