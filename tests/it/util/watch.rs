//! A test's own reading of a run while it runs: a thread reads a count
//! (usually the kernel's TCP table, `/proc/net/tcp` or a worker's
//! `/proc/PID/net/tcp` inside the run's network namespace) again and
//! again, with the wall-clock time of each reading, so a test can judge
//! c1m's report (whose timeline is placed on the wall clock by
//! `origin.started_at`) against counts c1m never saw.

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::outcome::Outcome;
use super::{children, run_netns};

/// The test's readings: (Unix seconds when each began, the count then).
pub type Readings = Vec<(f64, u64)>;

/// Seconds since the Unix epoch, as `origin.started_at` counts them.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A thread reading a count until stopped.
pub struct Watch {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Readings>,
}

impl Watch {
    /// Reads `read()` every `every`, keeping what it returns (`None`:
    /// not a reading of the run, left out).
    pub fn every(every: Duration, read: impl Fn() -> Option<u64> + Send + 'static) -> Self {
        Self::paced(read, move |_| every)
    }

    /// Reads `read()` every 25 ms while it counts more than 500, every
    /// 2 ms while fewer or none (a ramp-down's last moments are short).
    pub fn fine_near_zero(read: impl Fn() -> Option<u64> + Send + 'static) -> Self {
        Self::paced(read, |n| match n {
            Some(n) if n > 500 => Duration::from_millis(25),
            _ => Duration::from_millis(2),
        })
    }

    fn paced(
        read: impl Fn() -> Option<u64> + Send + 'static,
        pace: impl Fn(Option<u64>) -> Duration + Send + 'static,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            // Ahead of c1m's workers for a core: on a loaded machine
            // (five builds at once) this thread once went 3.1 s without
            // a reading, and a whole stage went unseen. Best effort: the
            // test runs as root here, which may raise its priority.
            let _ = c1m_sys::process::set_nice(-10);
            let mut out = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let t = unix_now();
                let n = read();
                if let Some(n) = n {
                    out.push((t, n));
                }
                std::thread::sleep(pace(n));
            }
            out
        });
        Watch { stop, thread }
    }

    /// Stops the thread; its readings, oldest first.
    pub fn stop(self) -> Readings {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// The readings taken from `a` to `b` seconds on the report's timeline.
pub fn between(o: &Outcome, seen: &Readings, a: f64, b: f64) -> Vec<u64> {
    let t0 = o.get("origin.started_at").as_f64().unwrap();
    seen.iter()
        .filter(|(t, _)| *t >= t0 + a && *t <= t0 + b)
        .map(|(_, n)| *n)
        .collect()
}

/// A worker of `c1m run` (supervisor `pid`) inside the run's network
/// namespace: its `/proc/PID/net/tcp` is that namespace's table. Waits
/// up to 30 s for one.
pub fn worker_in_run_netns(pid: u32) -> u32 {
    let ns = format!("/run/netns/{}", run_netns(pid));
    let ino = |p: &str| std::fs::metadata(p).ok().map(|m| m.ino());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // A worker (`c1m worker`), not a helper run while the namespace
        // is set up.
        let is_worker = |c: u32| {
            std::fs::read(format!("/proc/{c}/cmdline"))
                .is_ok_and(|a| a.split(|&b| b == 0).any(|w| w == b"worker"))
        };
        let inside = children(pid).into_iter().find(|&c| {
            ino(&ns).is_some() && ino(&format!("/proc/{c}/ns/net")) == ino(&ns) && is_worker(c)
        });
        if let Some(w) = inside {
            return w;
        }
        assert!(Instant::now() < deadline, "no worker in {ns} within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}
