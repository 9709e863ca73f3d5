//! Ctrl-C and SIGTERM as the presses that sent them, not as signals.
//!
//! One press may arrive as two signals. GNU `timeout -s INT` (and its
//! default SIGTERM) signals its child, then its own process group with
//! kill(0, sig) — and the child is in that group — so c1m gets the signal
//! twice, microseconds apart (once when the kernel merges the second
//! with the first still pending, as it does a standard signal sent
//! twice: signal(7); twice otherwise); a terminal's Ctrl-C reaches the whole
//! foreground group, which a wrapper script may forward again. Counted as
//! two, that one `timeout` was "interrupted again": every worker killed
//! and the end read from the workers' counters instead of the kernel.
//!
//! So a signal is a new press only when it arrives more than
//! [`SAME_PRESS`] after the first signal of the press before it: 100 ms,
//! far above the microseconds between a program's repeated kill(2)s (and
//! the few milliseconds the thread that notes the arrival may wait for a
//! core on a loaded machine), and below the ~150 ms or more between two
//! presses of a key combination a person makes on purpose (a held key
//! repeats only after ~250 ms, then every ~33 ms: the repeats are new
//! presses). Measured from the press's first signal, not the last, so a
//! stream of signals closer than that still counts as presses.
//!
//! The arrival time is noted by a thread of its own ([`Caught`]), which
//! does nothing but wait for the signals' pipe, so two presses are told
//! apart even when they both came while the supervisor was busy (reading
//! the kernel, which takes seconds at 1M).

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use c1m_sys::poll::{self, Poller};
use c1m_sys::signals::Signals;

/// Signals arriving within this of the first signal of a press are that
/// press (see the module's comment for why 100 ms).
pub const SAME_PRESS: Duration = Duration::from_millis(100);

/// The presses counted so far from signals' arrival times: pure, the time
/// passed in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Presses {
    count: u32,
    /// When the last press's first signal arrived.
    began: Option<Instant>,
}

impl Presses {
    /// Counts a signal that arrived `at`; true when it is a new press
    /// (the first signal always is), false when it belongs to the last.
    pub fn signal(&mut self, at: Instant) -> bool {
        if self
            .began
            .is_some_and(|b| at.saturating_duration_since(b) <= SAME_PRESS)
        {
            return false;
        }
        self.began = Some(at);
        self.count += 1;
        true
    }

    /// How many presses so far.
    pub fn count(&self) -> u32 {
        self.count
    }
}

/// Caught signals, each with the instant it arrived, noted by a thread
/// that waits for nothing else. Readable (register with
/// [`c1m_sys::poll::Poller`], [`poll::READ`]) when some have arrived
/// since the last [`Caught::take`].
pub struct Caught {
    wake: UnixStream,
    arrived: Arc<Mutex<Vec<(i32, Instant)>>>,
}

impl Caught {
    /// Catches `signals` from now on (see [`Signals::catch`], whose
    /// errors these are, with those of socketpair(2), epoll_create(2) and
    /// of starting a thread). The thread ends at the first signal after
    /// this value is dropped; until then it sleeps in epoll_wait(2).
    pub fn start(signals: &[i32]) -> io::Result<Self> {
        let caught = Signals::catch(signals)?;
        let (wake, tell) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        tell.set_nonblocking(true)?;
        let arrived = Arc::new(Mutex::new(Vec::new()));
        let noted = Arc::clone(&arrived);
        // The epoll set is made in the thread (it is not `Send`), which
        // says whether that worked before it waits.
        let (ready, made) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("c1m-signals".into())
            .spawn(move || {
                let made = Poller::new(1).and_then(|p| {
                    p.add(caught.as_fd(), 0, poll::READ)?;
                    Ok(p)
                });
                let mut poller = match made {
                    Ok(p) => {
                        let _ = ready.send(Ok(()));
                        p
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                loop {
                    // An error (none is expected of a one-descriptor
                    // epoll) is waited out like a wake with nothing.
                    let _ = poller.wait(Duration::from_secs(3600)).map(|e| e.count());
                    let sigs = caught.take();
                    if sigs.is_empty() {
                        continue;
                    }
                    let now = Instant::now();
                    if let Ok(mut list) = noted.lock() {
                        list.extend(sigs.into_iter().map(|s| (s, now)));
                    }
                    match (&tell).write(&[1]) {
                        Ok(_) => {}
                        // Already readable, with bytes the reader has not taken.
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        // The reader is gone.
                        Err(_) => return,
                    }
                }
            })?;
        match made.recv() {
            Ok(Ok(())) => Ok(Self { wake, arrived }),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(io::Error::other("the signals' thread ended at its start")),
        }
    }

    /// The signals that arrived since the last call, in order, each with
    /// when it arrived; no longer readable afterwards.
    pub fn take(&self) -> Vec<(i32, Instant)> {
        let mut buf = [0u8; 64];
        while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
        match self.arrived.lock() {
            Ok(mut list) => std::mem::take(&mut *list),
            Err(_) => Vec::new(),
        }
    }
}

impl AsFd for Caught {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_microseconds_apart_are_one_press() {
        let t0 = Instant::now();
        let mut p = Presses::default();
        assert!(p.signal(t0));
        // `timeout`'s second kill, to its process group.
        assert!(!p.signal(t0 + Duration::from_micros(30)));
        assert!(!p.signal(t0 + SAME_PRESS));
        assert_eq!(p.count(), 1);
    }

    #[test]
    fn presses_further_apart_than_the_interval_are_counted() {
        let t0 = Instant::now();
        let mut p = Presses::default();
        assert!(p.signal(t0));
        assert!(p.signal(t0 + Duration::from_millis(150)));
        assert_eq!(p.count(), 2);
        // A held key's repeats, every 33 ms: measured from each press's
        // first signal, so they keep counting.
        let mut t = t0 + Duration::from_millis(150);
        for _ in 0..4 {
            t += Duration::from_millis(33);
            p.signal(t);
        }
        assert_eq!(p.count(), 3);
        // Arrivals noted out of order never count backwards.
        assert!(!p.signal(t0));
        assert_eq!(p.count(), 3);
    }

    /// Two signals sent back to back (one kill(1) naming this process
    /// twice) are seen, each with its arrival time; the descriptor turns
    /// readable (an independent witness that the thread noted them).
    #[test]
    fn the_thread_notes_each_signal_and_when() {
        // SIGUSR1: no other test of this binary sends it; caught here for
        // the rest of the process.
        const SIGUSR1: i32 = 10;
        let c = Caught::start(&[SIGUSR1]).unwrap();
        assert!(c.take().is_empty());
        let before = Instant::now();
        let me = std::process::id().to_string();
        let st = std::process::Command::new("kill")
            .args(["-USR1", &me, &me])
            .status()
            .unwrap();
        assert!(st.success());
        let mut poller = Poller::new(1).unwrap();
        poller.add(&c, 7, poll::READ).unwrap();
        let mut got = Vec::new();
        // A wait the signal itself interrupts (EINTR) returns empty.
        let give_up = Instant::now() + Duration::from_secs(10);
        while got.is_empty() && Instant::now() < give_up {
            if poller.wait(Duration::from_secs(1)).unwrap().count() > 0 {
                got.extend(c.take());
            }
        }
        // One or two: a signal sent while the same one is still pending
        // is merged with it by the kernel (signal(7)), as `timeout`'s
        // two often are.
        got.extend(c.take());
        assert!((1..=2).contains(&got.len()), "{got:?}");
        assert!(got.iter().all(|g| g.0 == SIGUSR1));
        assert!(got.iter().all(|g| g.1 >= before && g.1 <= Instant::now()));
    }
}
