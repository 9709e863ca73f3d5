//! The one place where c1m talks to the kernel about descriptors and
//! processes.
//!
//! Every socket, epoll, rlimit, signal, namespace, file-lock and
//! process-control call of c1m goes through a safe wrapper here; the rest
//! of the workspace forbids `unsafe` (`[workspace.lints]`) and never
//! handles a raw descriptor (`tests/tidy.rs` fails on `libc`, `RawFd`, `as_raw_fd`,
//! `from_raw_fd`, … anywhere else). Most wrappers sit on `rustix` (safe
//! already); the few calls `rustix` lacks (`IP_BIND_ADDRESS_NO_PORT`,
//! `IP_LOCAL_PORT_RANGE`) and those it marks `unsafe` (`pre_exec`,
//! `unshare`, a signal handler's action, `mmap`/`munmap` and a
//! descriptor passed to a child) are made here, each `unsafe` block with a `// SAFETY:` note
//! (clippy's `undocumented_unsafe_blocks` denies one without).
//!
//! # Modules, lowest layer first
//! `tests/tidy.rs` checks that a module uses only modules of lower layers.
//!
//! 1. [`alloc`]: the global allocator, counting one layer's memory,
//!    malloc_usable_size(3). [`limits`]: `RLIMIT_NOFILE`, getrlimit(2). [`process`]: worker
//!    processes that never outlive the supervisor, nice values, prctl(2).
//!    [`signals`]: Ctrl-C and SIGTERM as a readable descriptor, each
//!    arrival counted, signal(7).
//!    [`netns`]: named network namespaces as `ip netns` keeps them,
//!    network_namespaces(7). [`lock`]: advisory file locks, flock(2).
//!    [`shm`]: counters in memory shared with child processes, a sealed
//!    memfd_create(2) file mapped `MAP_SHARED`, mmap(2).
//! 2. [`poll`]: epoll(7) and nonblocking reads of any descriptor.
//! 3. [`socket`]: nonblocking TCP sockets, socket(7), tcp(7), ip(7).
//!
//! Per-connection calls return [`Errno`] (a `Copy` integer), never an
//! allocated error: they run millions of times on the hot path. Calls made
//! once per process return [`std::io::Error`] with the path or name
//! involved.

pub mod alloc;
pub mod limits;
pub mod lock;
pub mod netns;
pub mod poll;
pub mod process;
pub mod shm;
pub mod signals;
pub mod socket;

pub use rustix::io::Errno;
pub use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// The tests that read the process's heap counts run one at a time: any
/// other test thread's allocations would move them.
#[cfg(test)]
static TEST_HEAP: std::sync::Mutex<()> = std::sync::Mutex::new(());
