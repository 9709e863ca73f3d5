//! The one error type of the parsers.

/// Why a `/proc` file or netlink reply could not be understood. Parsers
/// return it instead of panicking, whatever the input; readers wrap it in
/// an [`std::io::Error`] of kind `InvalidData` that names the path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The input ended before a required part: empty input, or a last
    /// line without its newline (a cut-short read or fixture).
    #[error("{what}: truncated input")]
    Truncated {
        /// What was being parsed: `"meminfo"`, `"sock_diag reply"`, …
        what: &'static str,
    },
    /// A line or field is not of the expected shape.
    #[error("{what}: line {line}: {reason}")]
    Malformed {
        /// What was being parsed: `"meminfo"`, `"sock_diag reply"`, …
        what: &'static str,
        /// The 1-based line of a text file (0: the file as a whole), or
        /// the 1-based message number in a netlink reply.
        line: usize,
        /// What is wrong, naming the field: `"MemTotal: \"x\" is not a
        /// number"`.
        reason: String,
    },
}
