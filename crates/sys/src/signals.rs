//! Ctrl-C and friends, delivered as a readable descriptor for epoll.
//! See signal(7).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use signal_hook::consts::{SIGINT, SIGTERM};

/// The signals this process has asked to hear about, and a pipe that turns
/// readable when one arrives.
pub struct Signals {
    read: OwnedFd,
    flags: Vec<(i32, Arc<AtomicBool>)>,
}

impl Signals {
    /// Catches `signals` from now on (their default action is replaced).
    pub fn catch(signals: &[i32]) -> io::Result<Self> {
        let (read, write) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )?;
        let mut flags = Vec::new();
        for &sig in signals {
            let flag = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(sig, Arc::clone(&flag))?;
            signal_hook::low_level::pipe::register(sig, write.try_clone()?)?;
            flags.push((sig, flag));
        }
        Ok(Self { read, flags })
    }

    /// The signals that arrived since the last call, emptying the pipe.
    pub fn take(&self) -> Vec<i32> {
        let mut buf = [0u8; 64];
        while matches!(rustix::io::read(&self.read, &mut buf), Ok(n) if n > 0) {}
        self.flags
            .iter()
            .filter(|(_, f)| f.swap(false, Ordering::SeqCst))
            .map(|(s, _)| *s)
            .collect()
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raised_signal_is_seen() {
        let s = Signals::catch(&[signal_hook::consts::SIGUSR1]).unwrap();
        assert!(s.take().is_empty());
        signal_hook::low_level::raise(signal_hook::consts::SIGUSR1).unwrap();
        assert_eq!(s.take(), vec![signal_hook::consts::SIGUSR1]);
    }
}
