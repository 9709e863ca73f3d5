//! `RLIMIT_NOFILE`: how many descriptors one process may hold.
//! See getrlimit(2) and, for the ceiling of the hard limit, `fs.nr_open`
//! in proc(5).

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The soft and hard `RLIMIT_NOFILE` of this process, in descriptors;
/// `None` is `RLIM_INFINITY` (unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nofile {
    /// The soft limit: `open()`, `socket()`, `accept()` fail with `EMFILE`
    /// once the process's lowest free descriptor number would reach it.
    pub soft: Option<u64>,
    /// The hard limit: the most the soft limit may be raised to without
    /// `CAP_SYS_RESOURCE` (itself capped by `fs.nr_open`).
    pub hard: Option<u64>,
}

/// Reads this process's `RLIMIT_NOFILE` (getrlimit(2); cannot fail).
pub fn nofile() -> Nofile {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    Nofile {
        soft: current,
        hard: maximum,
    }
}

/// Sets the soft `RLIMIT_NOFILE` to `soft` descriptors, clamped to the
/// hard limit (up to which no privilege is needed), keeping the hard limit.
///
/// Errors: those of setrlimit(2); with the clamp, in practice only
/// `EPERM` under a security module that forbids the change.
pub fn set_nofile_soft(soft: u64) -> std::io::Result<()> {
    let cur = getrlimit(Resource::Nofile);
    let soft = match cur.maximum {
        Some(hard) => soft.min(hard),
        None => soft,
    };
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(soft),
            maximum: cur.maximum,
        },
    )
    .map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's own account: the `Max open files` line of
    /// `/proc/self/limits` (proc(5)), `None` for `unlimited`.
    fn proc_limits() -> (Option<u64>, Option<u64>) {
        let text = std::fs::read_to_string("/proc/self/limits").unwrap();
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("Max open files"))
            .unwrap();
        let mut v = line.split_whitespace().map(|w| w.parse().ok());
        (v.next().unwrap(), v.next().unwrap())
    }

    #[test]
    fn soft_can_be_lowered_and_raised_back() {
        let before = nofile();
        assert_eq!((before.soft, before.hard), proc_limits());
        let hard = before.hard.unwrap_or(1 << 20);
        set_nofile_soft(256).unwrap();
        assert_eq!(proc_limits(), (Some(256.min(hard)), before.hard));
        // Asking past the hard limit is clamped, not refused.
        set_nofile_soft(u64::MAX).unwrap();
        assert_eq!(proc_limits().0, before.hard);
        set_nofile_soft(before.soft.unwrap_or(hard)).unwrap();
        assert_eq!(nofile(), before);
    }
}
