{#-
  ZTF domain rules, one home each (docs/ztf-domain.md explains them). Staging applies
  them once per source row; the models downstream select the derived columns.
-#}

{# Modified Julian Date of a Julian Date [days]. #}
{% macro mjd(jd) -%}
  ({{ jd }} - 2400000.5)
{%- endmacro %}

{# isdiffpos as a sign: +1 for a positive subtraction ('t' or '1'), -1 otherwise. #}
{% macro isdiffpos_sign(isdiffpos) -%}
  case when {{ isdiffpos }} in ('t', '1') then 1 else -1 end
{%- endmacro %}

{#
  The detection lies on a source of the reference image (distnr < 1.4 pixel), so its
  apparent (DC) magnitude can be computed; false when distnr is null.
#}
{% macro is_corrected(distnr) -%}
  coalesce({{ distnr }} < 1.4, false)
{%- endmacro %}

{#
  The counterpart looks like a star: a close PS1 source with a star-like score, or a
  reference-image source with a point-like shape. False when the inputs are null.
#}
{% macro is_stellar(distpsnr1, sgscore1, chinr, sharpnr) -%}
  coalesce(({{ distpsnr1 }} < 1.4 and {{ sgscore1 }} > 0.4)
           or ({{ chinr }} < 2 and {{ sharpnr }} > -0.13 and {{ sharpnr }} < 0.1), false)
{%- endmacro %}

{# The alert carries at least one cutout stamp (written by ateda, addressed by URI). #}
{% macro has_stamp(science_uri, template_uri, difference_uri) -%}
  ({{ science_uri }} is not null or {{ template_uri }} is not null or {{ difference_uri }} is not null)
{%- endmacro %}

{#
  Positional uncertainty of one ZTF detection [arcsec]. The packets carry none, so, as
  ALeRCE does, a fixed error per filter (g 0.065", r 0.085", i 0.01") for dec, divided
  by |cos(dec)| for ra (the error of the ra coordinate itself).
#}
{% macro position_error_dec(fid) -%}
  cast(case {{ fid }} when 1 then 0.065 when 2 then 0.085 when 3 then 0.01 end as double)
{%- endmacro %}
{% macro position_error_ra(fid, dec) -%}
  ({{ ateda.position_error_dec(fid) }} / abs(cos(radians({{ dec }}))))
{%- endmacro %}

{#
  Forced photometry: the point is a measurement when flux and uncertainty are present,
  not 0 and not the -99999 sentinel, and the zero point magzpsci is present (then its
  magnitude is defined); it is usable when, besides, procstatus is '0' (no warning).
#}
{% macro fp_is_measured(flux, unc, magzpsci) -%}
  coalesce({{ flux }} not in (0, -99999) and {{ unc }} not in (0, -99999) and {{ magzpsci }} is not null, false)
{%- endmacro %}
{% macro fp_is_usable(flux, unc, magzpsci, procstatus) -%}
  ({{ ateda.fp_is_measured(flux, unc, magzpsci) }} and coalesce({{ procstatus }} = '0', false))
{%- endmacro %}

{#
  The rule for one row among copies of the same detection or forced-photometry point
  carried by several alerts (silver detection and forced_photometry): the earliest
  carrying alert wins (by its jd, then candid). Use as (the tail of) keep_one's order_by.
#}
{% macro earliest_carrier_order() -%}
  parent_jd, parent_candid
{%- endmacro %}
