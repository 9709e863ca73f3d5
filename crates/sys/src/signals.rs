//! Ctrl-C and friends, delivered as a readable descriptor for epoll.
//! See signal(7) and signal-hook's self-pipe (`low_level::pipe`).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use signal_hook::consts::FORBIDDEN;
pub use signal_hook::consts::{SIGINT, SIGTERM};

/// The signals this process has asked to hear about, and the read end of
/// a pipe that turns readable when one arrives: register it with
/// [`crate::poll::Poller`] (level-triggered, [`crate::poll::READ`]) and
/// call [`Signals::take`] when it fires.
pub struct Signals {
    read: OwnedFd,
    /// Each caught signal and how often it arrived since the last take.
    counts: Vec<(i32, Arc<AtomicUsize>)>,
}

impl Signals {
    /// Catches `signals` (numbers such as [`SIGINT`], [`SIGTERM`]) from now
    /// on, for the whole process: their default action (termination) is
    /// replaced by setting a flag and writing a byte to the pipe. The
    /// handlers stay installed after this value is dropped.
    ///
    /// Errors: `InvalidInput` for a signal that cannot or must not be
    /// caught (`SIGKILL`, `SIGSTOP`, and the faults `SIGILL`, `SIGFPE`,
    /// `SIGSEGV`: signal-hook's `FORBIDDEN`), before anything is
    /// installed; those of pipe2(2) (`EMFILE`) and sigaction(2) (`EINVAL`
    /// for a number that is no signal).
    pub fn catch(signals: &[i32]) -> io::Result<Self> {
        if let Some(sig) = signals.iter().find(|s| FORBIDDEN.contains(s)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} cannot be caught", crate::process::signal_name(*sig)),
            ));
        }
        let (read, write) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )?;
        let mut counts = Vec::new();
        for &sig in signals {
            let count = Arc::new(AtomicUsize::new(0));
            let seen = Arc::clone(&count);
            // SAFETY: the action runs inside the signal handler, where only
            // async-signal-safe work is sound; it does one atomic
            // increment of memory it owns (an `Arc` kept alive by the
            // registration), no allocation, no lock.
            #[allow(unsafe_code)]
            unsafe {
                signal_hook::low_level::register(sig, move || {
                    seen.fetch_add(1, Ordering::SeqCst);
                })?;
            }
            // The handler owns its own copy of the write end.
            signal_hook::low_level::pipe::register(sig, write.try_clone()?)?;
            counts.push((sig, count));
        }
        Ok(Self { read, counts })
    }

    /// The signals that arrived since the last call, in the order given
    /// to [`Signals::catch`], each as often as it came (two Ctrl-C
    /// pressed while the caller was busy are two `SIGINT`s), emptying
    /// the pipe so that it stops being readable.
    pub fn take(&self) -> Vec<i32> {
        let mut buf = [0u8; 64];
        while matches!(rustix::io::read(&self.read, &mut buf), Ok(n) if n > 0) {}
        self.counts
            .iter()
            .flat_map(|(s, c)| std::iter::repeat_n(*s, c.swap(0, Ordering::SeqCst)))
            .collect()
    }
}

/// The pipe's read end, readable once a caught signal has arrived.
impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signal_hook::consts::{SIGKILL, SIGUSR1, SIGUSR2};

    #[test]
    fn a_raised_signal_is_seen() {
        let s = Signals::catch(&[SIGUSR1]).unwrap();
        assert!(s.take().is_empty());
        signal_hook::low_level::raise(SIGUSR1).unwrap();
        // The pipe turned readable (an independent witness of delivery).
        let mut poller = crate::poll::Poller::new(1).unwrap();
        poller.add(&s, 7, crate::poll::READ).unwrap();
        let ready: Vec<u64> = poller
            .wait(std::time::Duration::from_secs(5))
            .unwrap()
            .map(|e| e.token)
            .collect();
        assert_eq!(ready, [7]);
        assert_eq!(s.take(), vec![SIGUSR1]);
        assert!(s.take().is_empty());
    }

    /// A signal that came twice before a look is seen twice (a second
    /// Ctrl-C pressed while the supervisor was busy is still a second).
    #[test]
    fn a_signal_raised_twice_is_seen_twice() {
        let s = Signals::catch(&[SIGUSR2]).unwrap();
        signal_hook::low_level::raise(SIGUSR2).unwrap();
        signal_hook::low_level::raise(SIGUSR2).unwrap();
        assert_eq!(s.take(), vec![SIGUSR2, SIGUSR2]);
        assert!(s.take().is_empty());
    }

    #[test]
    fn uncatchable_and_unknown_signals_are_refused() {
        let e = Signals::catch(&[SIGUSR1, SIGKILL]).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(e.to_string(), "SIGKILL cannot be caught");
        // No such signal: sigaction(2) refuses it.
        let e = Signals::catch(&[1000]).err().unwrap();
        assert_eq!(
            e.raw_os_error(),
            Some(rustix::io::Errno::INVAL.raw_os_error()),
            "{e}"
        );
    }
}
