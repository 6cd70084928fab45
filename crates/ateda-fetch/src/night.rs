//! Nights as the user names them: `YYYYMMDD`, `YYYYMMDD..YYYYMMDD` or `latest`.

use chrono::NaiveDate;

/// The longest range of nights accepted in one argument (about 27 years), so a typo such
/// as `20230101..29230101` is an error rather than a million requests.
const MAX_RANGE_DAYS: i64 = 10_000;

/// One night asked for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Night {
    /// A given date (UTC night of the archive's file name).
    Date(NaiveDate),
    /// The newest night named in the archive's `MD5SUMS`.
    Latest,
}

/// A night argument that is not `YYYYMMDD`, `YYYYMMDD..YYYYMMDD` or `latest`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad night {arg:?}: {reason} (expected YYYYMMDD, YYYYMMDD..YYYYMMDD or latest)")]
pub struct NightError {
    /// The argument as given.
    pub arg: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The archive's file name of a night: `ztf_public_YYYYMMDD.tar.gz`.
pub fn tarball_name(date: NaiveDate) -> String {
    format!("ztf_public_{}.tar.gz", date.format("%Y%m%d"))
}

fn parse_date(arg: &str, s: &str) -> Result<NaiveDate, NightError> {
    let err = |reason: String| NightError {
        arg: arg.to_string(),
        reason,
    };
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(format!("{s:?} is not 8 digits")));
    }
    NaiveDate::parse_from_str(s, "%Y%m%d").map_err(|e| err(format!("{s:?}: {e}")))
}

/// Parses the night arguments, in order, dropping repeats: each is `YYYYMMDD`, an
/// inclusive range `YYYYMMDD..YYYYMMDD` (first <= last), or `latest`.
pub fn parse_nights<S: AsRef<str>>(args: &[S]) -> Result<Vec<Night>, NightError> {
    let mut out: Vec<Night> = Vec::new();
    let push = |n: Night, out: &mut Vec<Night>| {
        if !out.contains(&n) {
            out.push(n);
        }
    };
    for arg in args {
        let arg = arg.as_ref().trim();
        if arg.eq_ignore_ascii_case("latest") {
            push(Night::Latest, &mut out);
        } else if let Some((a, b)) = arg.split_once("..") {
            let (first, last) = (parse_date(arg, a)?, parse_date(arg, b)?);
            if first > last {
                return Err(NightError {
                    arg: arg.to_string(),
                    reason: "the first night is after the last".into(),
                });
            }
            if (last - first).num_days() > MAX_RANGE_DAYS {
                return Err(NightError {
                    arg: arg.to_string(),
                    reason: format!("more than {MAX_RANGE_DAYS} nights"),
                });
            }
            for d in first.iter_days().take_while(|d| *d <= last) {
                push(Night::Date(d), &mut out);
            }
        } else {
            push(Night::Date(parse_date(arg, arg)?), &mut out);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Night {
        Night::Date(NaiveDate::parse_from_str(s, "%Y%m%d").unwrap())
    }

    #[test]
    fn single_nights_ranges_and_latest() {
        assert_eq!(parse_nights(&["20231012"]).unwrap(), [d("20231012")]);
        assert_eq!(
            parse_nights(&["20231230..20240102", "latest"]).unwrap(),
            [
                d("20231230"),
                d("20231231"),
                d("20240101"),
                d("20240102"),
                Night::Latest
            ]
        );
        // a one-night range, and repeats dropped
        assert_eq!(
            parse_nights(&["20240229..20240229", "20240229", "LATEST", "latest"]).unwrap(),
            [d("20240229"), Night::Latest]
        );
    }

    #[test]
    fn bad_nights_are_errors() {
        for bad in [
            "2023101",
            "202310120",
            "2023-10-12",
            "20231332",
            "20230229",
            "20231012..",
            "20231012..20231011",
            "x",
            "",
            "20000101..20991231",
        ] {
            let e = parse_nights(&[bad]).unwrap_err();
            assert_eq!(e.arg, bad, "{e}");
        }
    }

    #[test]
    fn file_names() {
        let Night::Date(date) = d("20180601") else {
            unreachable!()
        };
        assert_eq!(tarball_name(date), "ztf_public_20180601.tar.gz");
    }
}
