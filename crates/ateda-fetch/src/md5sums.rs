//! The archive's `MD5SUMS`: `<32 hex md5>  <file name>` per line, as `md5sum` prints it.

use std::collections::HashMap;

use chrono::NaiveDate;

/// The checksums of an archive's files, by file name (hex digests in lower case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Md5Sums {
    by_name: HashMap<String, String>,
}

impl Md5Sums {
    /// Parses `md5sum` output: `<32 hex digits>` then two spaces (one space, or a space
    /// and `*` for binary mode, are accepted too) then the file name. Blank lines,
    /// `#` comments and lines of any other shape are skipped; a leading `./` or
    /// directory in the name is dropped (the archive is flat).
    pub fn parse(text: &str) -> Self {
        let mut by_name = HashMap::new();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((md5, rest)) = line.split_at_checked(32) else {
                continue;
            };
            if !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let Some(rest) = rest.strip_prefix(' ') else {
                continue;
            };
            let name = rest
                .strip_prefix(' ')
                .or_else(|| rest.strip_prefix('*'))
                .unwrap_or(rest);
            let name = name.rsplit('/').next().unwrap_or(name);
            if name.is_empty() {
                continue;
            }
            by_name.insert(name.to_string(), md5.to_ascii_lowercase());
        }
        Md5Sums { by_name }
    }

    /// The expected MD5 (lower-case hex) of `name`, if listed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.by_name.get(name).map(String::as_str)
    }

    /// How many files are listed.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether no file is listed.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The newest night with a `ztf_public_YYYYMMDD.tar.gz` entry.
    pub fn latest_night(&self) -> Option<NaiveDate> {
        self.by_name
            .keys()
            .filter_map(|name| {
                let digits = name.strip_prefix("ztf_public_")?.strip_suffix(".tar.gz")?;
                if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
            })
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn md5sum_output_in_all_its_forms() {
        let text = format!(
            "{A}  ztf_public_20231012.tar.gz\n\
             0123456789ABCDEF0123456789ABCDEF *ztf_public_20231013.tar.gz\r\n\
             \n\
             # a comment\n\
             {A} ztf_public_20231014.tar.gz\n\
             {A}  ./ztf_public_20180601.tar.gz\n\
             nothex0123456789abcdef0123456789  bad.tar.gz\n\
             {A}x  glued.tar.gz\n\
             short  ztf_public_20990101.tar.gz\n\
             {A}  with space in name.txt\n"
        );
        let sums = Md5Sums::parse(&text);
        assert_eq!(sums.get("ztf_public_20231012.tar.gz"), Some(A));
        // upper case is normalised, binary-mode '*' stripped
        assert_eq!(sums.get("ztf_public_20231013.tar.gz"), Some(A));
        assert_eq!(sums.get("ztf_public_20231014.tar.gz"), Some(A));
        assert_eq!(sums.get("ztf_public_20180601.tar.gz"), Some(A));
        assert_eq!(sums.get("with space in name.txt"), Some(A));
        assert_eq!(sums.get("bad.tar.gz"), None);
        assert_eq!(sums.get("glued.tar.gz"), None);
        assert_eq!(sums.len(), 5);
        assert_eq!(
            sums.latest_night(),
            NaiveDate::from_ymd_opt(2023, 10, 14),
            "only well-formed ztf_public names count"
        );
        assert!(Md5Sums::parse("").is_empty());
        assert_eq!(Md5Sums::parse("").latest_night(), None);
    }
}
