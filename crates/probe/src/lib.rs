//! Reading the kernel's own accounting: `/proc` files and netlink sock_diag.
//!
//! Every parser here is `parse(&[u8]) -> Result<T, ParseError>` and never
//! panics, whatever the input; readers take a root prefix (`/proc` by
//! default) so that whole machines can be replayed from fixture trees.
//!
//! | module | source | cost |
//! | --- | --- | --- |
//! | [`meminfo`] | `/proc/meminfo` | cheap |
//! | [`sysctl`] | `/proc/sys/…` | cheap |
//! | [`sockstat`] | `/proc/net/sockstat{,6}` | cheap |
//! | [`netstat`] | `/proc/net/{netstat,snmp}` | cheap |
//! | [`process`] | `/proc/PID/{statm,status,smaps_rollup}` | statm cheap, smaps_rollup walks page tables |
//! | [`slabinfo`] | `/proc/slabinfo` (root) | walks slab lists: ~1 Hz at most |
//! | [`diag`] | `NETLINK_SOCK_DIAG` | one message per matching socket |
//!
//! [`procfile::ProcFile`] keeps a file open and re-reads it with one
//! `pread` per sample.
//!
//! Readers (`read`, `read_*`) return [`std::io::Error`]s that name the
//! path: the kind of the failed open or read (`NotFound` for a file this
//! kernel lacks or a process that has exited, `PermissionDenied` for
//! root-only files such as `/proc/slabinfo`), or `InvalidData` wrapping
//! the [`ParseError`].
//!
//! # Modules, lowest layer first
//! `tests/layers.rs` checks that a module uses only modules of lower
//! layers: [`error`], then the private `text` helpers, then
//! [`procfile`], then the readers of the table above, each standing alone.

#![deny(missing_docs)]

pub mod diag;
pub mod error;
pub mod meminfo;
pub mod netstat;
pub mod process;
pub mod procfile;
pub mod slabinfo;
pub mod sockstat;
pub mod sysctl;
mod text;

pub use error::ParseError;

/// The page size in bytes (`getauxval(AT_PAGESZ)`, via rustix), for the
/// values the kernel reports in pages (statm, sockstat `mem`, slabinfo).
pub fn page_size() -> u64 {
    rustix::param::page_size() as u64
}
