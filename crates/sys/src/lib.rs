//! The one place where c1m talks to the kernel about descriptors and
//! processes.
//!
//! Every socket, epoll, rlimit, signal and process-control call of c1m goes
//! through a safe wrapper here; the rest of the workspace denies `unsafe`
//! and never touches a raw descriptor. Most wrappers sit on `rustix` (safe
//! already); the few calls `rustix` lacks (`IP_BIND_ADDRESS_NO_PORT`,
//! `IP_LOCAL_PORT_RANGE`, `PR_SET_PDEATHSIG` inside `pre_exec`) are made
//! with `libc` in this crate only, each with a `// SAFETY:` note.
//!
//! Per-connection calls return [`Errno`] (a `Copy` integer), never an
//! allocated error: they run millions of times on the hot path.

pub mod limits;
pub mod netns;
pub mod poll;
pub mod process;
pub mod signals;
pub mod socket;

pub use rustix::io::Errno;
pub use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
