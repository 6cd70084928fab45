{#-
  A typed relation with the columns of bronze.alerts that staging reads and no rows: the
  stand-in for a lakehouse that has no ZTF table yet (only Rubin alerts ingested). Struct
  types as ZTF schema 4.02 (generated from crates/ateda-schema/schemas/ztf-4.02.avsc).
-#}
{% macro empty_ztf_alerts() -%}
  {{ return(adapter.dispatch('empty_ztf_alerts', 'ateda')()) }}
{%- endmacro %}
{% macro default__empty_ztf_alerts() -%}
(select
    cast(null as varchar) as schemavsn,
    cast(null as varchar) as publisher,
    cast(null as varchar) as objectId,
    cast(null as bigint) as candid,
    cast(null as STRUCT("jd" DOUBLE, "fid" INTEGER, "pid" BIGINT, "diffmaglim" FLOAT, "pdiffimfilename" VARCHAR, "programpi" VARCHAR, "programid" INTEGER, "candid" BIGINT, "isdiffpos" VARCHAR, "tblid" BIGINT, "nid" INTEGER, "rcid" INTEGER, "field" INTEGER, "xpos" FLOAT, "ypos" FLOAT, "ra" DOUBLE, "dec" DOUBLE, "magpsf" FLOAT, "sigmapsf" FLOAT, "chipsf" FLOAT, "magap" FLOAT, "sigmagap" FLOAT, "distnr" FLOAT, "magnr" FLOAT, "sigmagnr" FLOAT, "chinr" FLOAT, "sharpnr" FLOAT, "sky" FLOAT, "magdiff" FLOAT, "fwhm" FLOAT, "classtar" FLOAT, "mindtoedge" FLOAT, "magfromlim" FLOAT, "seeratio" FLOAT, "aimage" FLOAT, "bimage" FLOAT, "aimagerat" FLOAT, "bimagerat" FLOAT, "elong" FLOAT, "nneg" INTEGER, "nbad" INTEGER, "rb" FLOAT, "ssdistnr" FLOAT, "ssmagnr" FLOAT, "ssnamenr" VARCHAR, "sumrat" FLOAT, "magapbig" FLOAT, "sigmagapbig" FLOAT, "ranr" DOUBLE, "decnr" DOUBLE, "sgmag1" FLOAT, "srmag1" FLOAT, "simag1" FLOAT, "szmag1" FLOAT, "sgscore1" FLOAT, "distpsnr1" FLOAT, "ndethist" INTEGER, "ncovhist" INTEGER, "jdstarthist" DOUBLE, "jdendhist" DOUBLE, "scorr" DOUBLE, "tooflag" INTEGER, "objectidps1" BIGINT, "objectidps2" BIGINT, "sgmag2" FLOAT, "srmag2" FLOAT, "simag2" FLOAT, "szmag2" FLOAT, "sgscore2" FLOAT, "distpsnr2" FLOAT, "objectidps3" BIGINT, "sgmag3" FLOAT, "srmag3" FLOAT, "simag3" FLOAT, "szmag3" FLOAT, "sgscore3" FLOAT, "distpsnr3" FLOAT, "nmtchps" INTEGER, "rfid" BIGINT, "jdstartref" DOUBLE, "jdendref" DOUBLE, "nframesref" INTEGER, "rbversion" VARCHAR, "dsnrms" FLOAT, "ssnrms" FLOAT, "dsdiff" FLOAT, "magzpsci" FLOAT, "magzpsciunc" FLOAT, "magzpscirms" FLOAT, "nmatches" INTEGER, "clrcoeff" FLOAT, "clrcounc" FLOAT, "zpclrcov" FLOAT, "zpmed" FLOAT, "clrmed" FLOAT, "clrrms" FLOAT, "neargaia" FLOAT, "neargaiabright" FLOAT, "maggaia" FLOAT, "maggaiabright" FLOAT, "exptime" FLOAT, "drb" FLOAT, "drbversion" VARCHAR)) as candidate,
    cast(null as STRUCT("jd" DOUBLE, "fid" INTEGER, "pid" BIGINT, "diffmaglim" FLOAT, "pdiffimfilename" VARCHAR, "programpi" VARCHAR, "programid" INTEGER, "candid" BIGINT, "isdiffpos" VARCHAR, "tblid" BIGINT, "nid" INTEGER, "rcid" INTEGER, "field" INTEGER, "xpos" FLOAT, "ypos" FLOAT, "ra" DOUBLE, "dec" DOUBLE, "magpsf" FLOAT, "sigmapsf" FLOAT, "chipsf" FLOAT, "magap" FLOAT, "sigmagap" FLOAT, "distnr" FLOAT, "magnr" FLOAT, "sigmagnr" FLOAT, "chinr" FLOAT, "sharpnr" FLOAT, "sky" FLOAT, "magdiff" FLOAT, "fwhm" FLOAT, "classtar" FLOAT, "mindtoedge" FLOAT, "magfromlim" FLOAT, "seeratio" FLOAT, "aimage" FLOAT, "bimage" FLOAT, "aimagerat" FLOAT, "bimagerat" FLOAT, "elong" FLOAT, "nneg" INTEGER, "nbad" INTEGER, "rb" FLOAT, "ssdistnr" FLOAT, "ssmagnr" FLOAT, "ssnamenr" VARCHAR, "sumrat" FLOAT, "magapbig" FLOAT, "sigmagapbig" FLOAT, "ranr" DOUBLE, "decnr" DOUBLE, "scorr" DOUBLE, "magzpsci" FLOAT, "magzpsciunc" FLOAT, "magzpscirms" FLOAT, "clrcoeff" FLOAT, "clrcounc" FLOAT, "rbversion" VARCHAR)[]) as prv_candidates,
    cast(null as STRUCT("field" INTEGER, "rcid" INTEGER, "fid" INTEGER, "pid" BIGINT, "rfid" BIGINT, "sciinpseeing" FLOAT, "scibckgnd" FLOAT, "scisigpix" FLOAT, "magzpsci" FLOAT, "magzpsciunc" FLOAT, "magzpscirms" FLOAT, "clrcoeff" FLOAT, "clrcounc" FLOAT, "exptime" FLOAT, "adpctdif1" FLOAT, "adpctdif2" FLOAT, "diffmaglim" FLOAT, "programid" INTEGER, "jd" DOUBLE, "forcediffimflux" FLOAT, "forcediffimfluxunc" FLOAT, "procstatus" VARCHAR, "distnr" FLOAT, "ranr" DOUBLE, "decnr" DOUBLE, "magnr" FLOAT, "sigmagnr" FLOAT, "chinr" FLOAT, "sharpnr" FLOAT)[]) as fp_hists,
    cast(null as varchar) as cutout_science_uri,
    cast(null as varchar) as cutout_template_uri,
    cast(null as varchar) as cutout_difference_uri,
    cast(null as date) as night,
    cast(null as varchar) as ingest_source,
    cast(null as varchar) as ingest_schema_version,
    cast(null as varchar) as ingest_run_id
 from (select 1 as no_bronze_table) as empty_source
 where 1 = 0)
{%- endmacro %}
{% macro starrocks__empty_ztf_alerts() -%}
(select
    cast(null as varchar) as schemavsn,
    cast(null as varchar) as publisher,
    cast(null as varchar) as objectId,
    cast(null as bigint) as candid,
    cast(null as STRUCT<`jd` DOUBLE, `fid` INT, `pid` BIGINT, `diffmaglim` FLOAT, `pdiffimfilename` STRING, `programpi` STRING, `programid` INT, `candid` BIGINT, `isdiffpos` STRING, `tblid` BIGINT, `nid` INT, `rcid` INT, `field` INT, `xpos` FLOAT, `ypos` FLOAT, `ra` DOUBLE, `dec` DOUBLE, `magpsf` FLOAT, `sigmapsf` FLOAT, `chipsf` FLOAT, `magap` FLOAT, `sigmagap` FLOAT, `distnr` FLOAT, `magnr` FLOAT, `sigmagnr` FLOAT, `chinr` FLOAT, `sharpnr` FLOAT, `sky` FLOAT, `magdiff` FLOAT, `fwhm` FLOAT, `classtar` FLOAT, `mindtoedge` FLOAT, `magfromlim` FLOAT, `seeratio` FLOAT, `aimage` FLOAT, `bimage` FLOAT, `aimagerat` FLOAT, `bimagerat` FLOAT, `elong` FLOAT, `nneg` INT, `nbad` INT, `rb` FLOAT, `ssdistnr` FLOAT, `ssmagnr` FLOAT, `ssnamenr` STRING, `sumrat` FLOAT, `magapbig` FLOAT, `sigmagapbig` FLOAT, `ranr` DOUBLE, `decnr` DOUBLE, `sgmag1` FLOAT, `srmag1` FLOAT, `simag1` FLOAT, `szmag1` FLOAT, `sgscore1` FLOAT, `distpsnr1` FLOAT, `ndethist` INT, `ncovhist` INT, `jdstarthist` DOUBLE, `jdendhist` DOUBLE, `scorr` DOUBLE, `tooflag` INT, `objectidps1` BIGINT, `objectidps2` BIGINT, `sgmag2` FLOAT, `srmag2` FLOAT, `simag2` FLOAT, `szmag2` FLOAT, `sgscore2` FLOAT, `distpsnr2` FLOAT, `objectidps3` BIGINT, `sgmag3` FLOAT, `srmag3` FLOAT, `simag3` FLOAT, `szmag3` FLOAT, `sgscore3` FLOAT, `distpsnr3` FLOAT, `nmtchps` INT, `rfid` BIGINT, `jdstartref` DOUBLE, `jdendref` DOUBLE, `nframesref` INT, `rbversion` STRING, `dsnrms` FLOAT, `ssnrms` FLOAT, `dsdiff` FLOAT, `magzpsci` FLOAT, `magzpsciunc` FLOAT, `magzpscirms` FLOAT, `nmatches` INT, `clrcoeff` FLOAT, `clrcounc` FLOAT, `zpclrcov` FLOAT, `zpmed` FLOAT, `clrmed` FLOAT, `clrrms` FLOAT, `neargaia` FLOAT, `neargaiabright` FLOAT, `maggaia` FLOAT, `maggaiabright` FLOAT, `exptime` FLOAT, `drb` FLOAT, `drbversion` STRING>) as candidate,
    cast(null as ARRAY<STRUCT<`jd` DOUBLE, `fid` INT, `pid` BIGINT, `diffmaglim` FLOAT, `pdiffimfilename` STRING, `programpi` STRING, `programid` INT, `candid` BIGINT, `isdiffpos` STRING, `tblid` BIGINT, `nid` INT, `rcid` INT, `field` INT, `xpos` FLOAT, `ypos` FLOAT, `ra` DOUBLE, `dec` DOUBLE, `magpsf` FLOAT, `sigmapsf` FLOAT, `chipsf` FLOAT, `magap` FLOAT, `sigmagap` FLOAT, `distnr` FLOAT, `magnr` FLOAT, `sigmagnr` FLOAT, `chinr` FLOAT, `sharpnr` FLOAT, `sky` FLOAT, `magdiff` FLOAT, `fwhm` FLOAT, `classtar` FLOAT, `mindtoedge` FLOAT, `magfromlim` FLOAT, `seeratio` FLOAT, `aimage` FLOAT, `bimage` FLOAT, `aimagerat` FLOAT, `bimagerat` FLOAT, `elong` FLOAT, `nneg` INT, `nbad` INT, `rb` FLOAT, `ssdistnr` FLOAT, `ssmagnr` FLOAT, `ssnamenr` STRING, `sumrat` FLOAT, `magapbig` FLOAT, `sigmagapbig` FLOAT, `ranr` DOUBLE, `decnr` DOUBLE, `scorr` DOUBLE, `magzpsci` FLOAT, `magzpsciunc` FLOAT, `magzpscirms` FLOAT, `clrcoeff` FLOAT, `clrcounc` FLOAT, `rbversion` STRING>>) as prv_candidates,
    cast(null as ARRAY<STRUCT<`field` INT, `rcid` INT, `fid` INT, `pid` BIGINT, `rfid` BIGINT, `sciinpseeing` FLOAT, `scibckgnd` FLOAT, `scisigpix` FLOAT, `magzpsci` FLOAT, `magzpsciunc` FLOAT, `magzpscirms` FLOAT, `clrcoeff` FLOAT, `clrcounc` FLOAT, `exptime` FLOAT, `adpctdif1` FLOAT, `adpctdif2` FLOAT, `diffmaglim` FLOAT, `programid` INT, `jd` DOUBLE, `forcediffimflux` FLOAT, `forcediffimfluxunc` FLOAT, `procstatus` STRING, `distnr` FLOAT, `ranr` DOUBLE, `decnr` DOUBLE, `magnr` FLOAT, `sigmagnr` FLOAT, `chinr` FLOAT, `sharpnr` FLOAT>>) as fp_hists,
    cast(null as varchar) as cutout_science_uri,
    cast(null as varchar) as cutout_template_uri,
    cast(null as varchar) as cutout_difference_uri,
    cast(null as date) as night,
    cast(null as varchar) as ingest_source,
    cast(null as varchar) as ingest_schema_version,
    cast(null as varchar) as ingest_run_id
 from (select 1 as no_bronze_table) as empty_source
 where 1 = 0)
{%- endmacro %}

{#-
  What ZTF staging reads from: bronze.alerts, or the typed empty stand-in when the
  lakehouse has no such table (macros/lsst.sql survey_enabled). source() is called either
  way, so the dependency is the same.
-#}
{% macro ztf_bronze_alerts() -%}
  {%- set bronze = source('bronze', 'alerts') -%}
  {%- if ateda.survey_enabled('ztf') -%}{{ bronze }}{%- else -%}{{ ateda.empty_ztf_alerts() }}{%- endif -%}
{%- endmacro %}
