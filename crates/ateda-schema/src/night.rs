//! Observation nights: the UTC date of an observation time, as days since 1970-01-01.

/// Julian date of the Unix epoch.
pub const JD_UNIX_EPOCH: f64 = 2_440_587.5;

/// Offset between a Julian date and a modified Julian date.
pub const MJD_OFFSET: f64 = 2_400_000.5;

/// Observation night (days since 1970-01-01, UTC date) of a Julian date.
pub fn night_from_jd(jd: f64) -> Option<i32> {
    if !jd.is_finite() {
        return None;
    }
    let days = (jd - JD_UNIX_EPOCH).floor();
    if days < i32::MIN as f64 || days > i32::MAX as f64 {
        return None;
    }
    Some(days as i32)
}

/// Observation night (days since 1970-01-01, UTC date) of a modified Julian date.
pub fn night_from_mjd(mjd: f64) -> Option<i32> {
    night_from_jd(mjd + MJD_OFFSET)
}

/// Formats a day number (days since 1970-01-01) as `YYYY-MM-DD`.
pub fn format_day(days: i32) -> String {
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nights() {
        assert_eq!(night_from_jd(2440587.5), Some(0));
        assert_eq!(format_day(0), "1970-01-01");
        // 2023-10-18 05:00 UTC
        let jd = 2460235.708;
        assert_eq!(format_day(night_from_jd(jd).expect("finite")), "2023-10-18");
        assert_eq!(night_from_jd(f64::NAN), None);
        assert_eq!(night_from_jd(1e300), None);
        assert_eq!(night_from_mjd(jd - MJD_OFFSET), night_from_jd(jd));
        assert_eq!(format_day(-1), "1969-12-31");
        assert_eq!(format_day(19_723), "2024-01-01");
    }
}
