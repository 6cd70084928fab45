//! The walk over an error's causes, and the one-line message built from it.

use std::error::Error;

/// The causes of an error (its `source()` chain), nearest first; `e` itself is not
/// included.
pub fn causes<'a>(e: &'a (dyn Error + 'a)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(e.source(), |&c| c.source())
}

/// An error's message followed by those of its causes not already contained in it,
/// joined by `": "`.
///
/// Many error types print their source inside their own message (iceberg's
/// `..., source: ...`, object_store's `Generic S3 error: ...`); a cause already shown is
/// not repeated.
pub fn with_causes(e: &dyn Error) -> String {
    let mut msg = e.to_string();
    for cause in causes(e) {
        let m = cause.to_string();
        if !msg.contains(&m) {
            msg.push_str(": ");
            msg.push_str(&m);
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error with an optional source, printing its source or not.
    #[derive(Debug)]
    struct Layer {
        msg: &'static str,
        source: Option<Box<Layer>>,
        prints_source: bool,
    }

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.msg)?;
            match &self.source {
                Some(s) if self.prints_source => write!(f, ", source: {s}"),
                _ => Ok(()),
            }
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.source.as_deref().map(|s| s as &(dyn Error + 'static))
        }
    }

    fn layer(msg: &'static str, prints_source: bool, source: Option<Layer>) -> Layer {
        Layer {
            msg,
            source: source.map(Box::new),
            prints_source,
        }
    }

    #[test]
    fn causes_are_the_sources_nearest_first() {
        let e = layer(
            "outer",
            false,
            Some(layer("middle", false, Some(layer("inner", false, None)))),
        );
        let got: Vec<String> = causes(&e).map(|c| c.to_string()).collect();
        assert_eq!(got, ["middle", "inner"]);
        assert_eq!(causes(&layer("alone", false, None)).count(), 0);
    }

    #[test]
    fn each_cause_is_shown_once() {
        let e = layer(
            "writing x",
            false,
            Some(layer(
                "Generic S3 error",
                true,
                Some(layer("connection reset", false, None)),
            )),
        );
        // the middle layer already prints the innermost one
        assert_eq!(
            with_causes(&e),
            "writing x: Generic S3 error, source: connection reset"
        );
        let plain = layer(
            "a",
            false,
            Some(layer("b", false, Some(layer("c", false, None)))),
        );
        assert_eq!(with_causes(&plain), "a: b: c");
    }
}
