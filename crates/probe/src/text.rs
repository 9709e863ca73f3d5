//! Shared pieces of the line-oriented `/proc` parsers.
//!
//! Every `/proc` text file ends with a newline; input that does not was cut
//! short (a partial read, a truncated fixture), and is refused rather than
//! parsed into a wrong last value.

use std::io;
use std::path::Path;
use std::str::FromStr;

use crate::ParseError;

/// The input as UTF-8 text, refusing empty, non-UTF-8 and cut-short input.
pub(crate) fn whole_text<'a>(input: &'a [u8], what: &'static str) -> Result<&'a str, ParseError> {
    check_whole(input, what)?;
    std::str::from_utf8(input).map_err(|e| {
        let line = input
            .get(..e.valid_up_to())
            .map_or(0, |ok| ok.iter().filter(|&&b| b == b'\n').count() + 1);
        malformed(what, line, "not UTF-8")
    })
}

/// Refuses empty input and input whose last line has no newline.
pub(crate) fn check_whole(input: &[u8], what: &'static str) -> Result<(), ParseError> {
    match input.last() {
        Some(b'\n') => Ok(()),
        _ => Err(ParseError::Truncated { what }),
    }
}

/// A [`ParseError::Malformed`] for line `line` (1-based).
pub(crate) fn malformed(what: &'static str, line: usize, reason: impl Into<String>) -> ParseError {
    ParseError::Malformed {
        what,
        line,
        reason: reason.into(),
    }
}

/// Parses one number, naming the field in the error.
pub(crate) fn number<T: FromStr>(
    token: &str,
    what: &'static str,
    line: usize,
    field: &str,
) -> Result<T, ParseError> {
    token
        .parse()
        .map_err(|_| malformed(what, line, format!("{field}: {token:?} is not a number")))
}

/// `N kB` as bytes; `None` if it is not that shape or overflows.
pub(crate) fn kb_to_bytes(value: &str) -> Option<u64> {
    let mut parts = value.split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    match (parts.next(), parts.next()) {
        (Some("kB"), None) => n.checked_mul(1024),
        _ => None,
    }
}

/// Reads a whole `/proc` file, naming the path in the error.
pub(crate) fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))
}

/// Turns a parse error into an `InvalidData` I/O error naming the path.
pub(crate) fn invalid_data(path: &Path, err: ParseError) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {err}", path.display()),
    )
}

/// Reads and parses a `/proc` file.
pub(crate) fn read_parsed<T>(
    path: &Path,
    parse: impl FnOnce(&[u8]) -> Result<T, ParseError>,
) -> io::Result<T> {
    let bytes = read_file(path)?;
    parse(&bytes).map_err(|e| invalid_data(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_cut_short_input() {
        assert!(whole_text(b"a: 1\n", "t").is_ok());
        assert_eq!(
            whole_text(b"a: 1", "t"),
            Err(ParseError::Truncated { what: "t" })
        );
        assert_eq!(
            whole_text(b"", "t"),
            Err(ParseError::Truncated { what: "t" })
        );
        assert!(matches!(
            whole_text(b"a\n\xff\n", "t"),
            Err(ParseError::Malformed { line: 2, .. })
        ));
    }

    #[test]
    fn kilobytes() {
        assert_eq!(kb_to_bytes("  12 kB"), Some(12 * 1024));
        assert_eq!(kb_to_bytes("12"), None);
        assert_eq!(kb_to_bytes("12 MB"), None);
        assert_eq!(kb_to_bytes("99999999999999999999 kB"), None);
        assert_eq!(kb_to_bytes("18014398509481984 kB"), None);
    }
}
