//! The one error type of the parsers.

/// Why a `/proc` file or netlink reply could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The input ended before a required part.
    #[error("{what}: truncated input")]
    Truncated { what: &'static str },
    /// A line or field is not of the expected shape.
    #[error("{what}: line {line}: {reason}")]
    Malformed {
        what: &'static str,
        line: usize,
        reason: String,
    },
}
