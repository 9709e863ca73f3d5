//! Reading the kernel's own accounting: `/proc` files and netlink sock_diag.
//!
//! Every parser here is `parse(&[u8]) -> Result<T, ParseError>` and never
//! panics, whatever the input; readers take a root prefix (`/proc` by
//! default) so that whole machines can be replayed from fixture trees.

pub mod error;
pub mod meminfo;
pub mod sysctl;

pub use error::ParseError;
