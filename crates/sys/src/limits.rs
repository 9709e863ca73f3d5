//! `RLIMIT_NOFILE`: how many descriptors one process may hold.
//! See getrlimit(2).

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// The soft and hard `RLIMIT_NOFILE` of this process; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nofile {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// Reads this process's `RLIMIT_NOFILE`.
pub fn nofile() -> Nofile {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    Nofile {
        soft: current,
        hard: maximum,
    }
}

/// Sets the soft `RLIMIT_NOFILE` to `soft` (at most the hard limit; no
/// privilege is needed for that), keeping the hard limit.
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

    #[test]
    fn soft_can_be_lowered_and_raised_back() {
        let before = nofile();
        let hard = before.hard.unwrap_or(1 << 20);
        set_nofile_soft(256).unwrap();
        assert_eq!(nofile().soft, Some(256.min(hard)));
        set_nofile_soft(before.soft.unwrap_or(hard)).unwrap();
        assert_eq!(nofile(), before);
    }
}
