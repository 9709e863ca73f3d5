//! `c1m stat` (alias `watch`): the kernel's view of TCP on this machine,
//! live: sockets by state and by port, the rate connections come and go,
//! the slab caches they grow, memory, and listen-queue trouble. The seed's
//! `watch ss` + `slabtop` + `cat /proc/meminfo` on one screen; it watches
//! whatever server runs here, c1m's or not.
//!
//! What each figure costs decides how often it is read:
//!
//! | figures | source | read |
//! | --- | --- | --- |
//! | CurrEstab, listen counters, sockstat, meminfo | `/proc` text, O(1) | every refresh |
//! | slab caches | `/proc/slabinfo`, walks slab lists under a lock | at most once a second |
//! | sockets by state and port | netlink sock_diag, ~1 µs per socket in the kernel | in a thread, at most [`DIAG_DUTY`] of a core |
//!
//! At 2M sockets a netlink count takes ~1.7 s, so it runs every ~17 s
//! while the O(1) totals keep refreshing every second; the view says how
//! old each figure is. `--ports` narrows what the kernel reports (it still
//! walks every socket, at ~0.2 µs each).
//!
//! The I/O lives here; [`view`] computes deltas, rates and top-N from
//! readings with the time passed in, and [`render`] formats, so both are
//! tested without `/proc`.

#[cfg(test)]
mod fixtures;
pub mod render;
mod screen;
pub mod view;

use std::io::{self, IsTerminal, Write};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use c1m_probe::diag::{DiagQuery, Families, PortMatch, StateSet, TcpCounts, TcpDiag};
use c1m_probe::meminfo::Meminfo;
use c1m_probe::netstat::Netstat;
use c1m_probe::procfile::ProcFile;
use c1m_probe::slabinfo;
use c1m_probe::sockstat::Sockstat;
use c1m_sys::signals::{SIGINT, SIGTERM, Signals};

use view::{DiagReading, Quick, Setup, SlabReading, Tracker, View};

/// The share of one core the netlink counts may take: the next count
/// starts no sooner than its last duration divided by this.
pub const DIAG_DUTY: f64 = 0.1;
/// The most often slabinfo is read.
pub const SLAB_EVERY: Duration = Duration::from_secs(1);
/// The shortest refresh interval.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// How long the first refresh waits for the first netlink count.
const FIRST_COUNT_WAIT: Duration = Duration::from_secs(10);
/// How often a wait looks for a signal.
const POLL: Duration = Duration::from_millis(50);

/// What `c1m stat` shows, and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Time between refreshes (at least [`MIN_INTERVAL`]).
    pub interval: Duration,
    /// Only sockets whose local or remote port is in this range.
    pub ports: Option<RangeInclusive<u16>>,
    /// Which socket tables to walk.
    pub families: Families,
    /// Stop after this many refreshes.
    pub count: Option<u64>,
    /// One JSON object per refresh (`c1m.stat/1`) instead of text.
    pub json: bool,
    /// Rows of the port and slab-cache tables.
    pub top: usize,
    /// The network namespace whose sockets and counters are shown (a
    /// named one, `ip netns`); `None`: c1m's own. Memory and slab caches
    /// are the machine's either way.
    pub netns: Option<String>,
}

/// The namespace of the `c1m run` going on now, if exactly one is: a
/// `c1m-run-PID` namespace whose supervisor PID runs. `None` when there
/// is none, or several (then `--netns` must choose).
pub fn running_run_netns() -> Option<String> {
    let names = c1m_sys::netns::list().ok()?;
    let mut running = names.into_iter().filter(|n| {
        crate::plan::netns::run_netns_pid(n)
            .is_some_and(|pid| Path::new("/proc").join(pid.to_string()).exists())
    });
    let one = running.next()?;
    running.next().is_none().then_some(one)
}

/// `8090` or `8090-8119`: one contiguous range, as the kernel filter takes.
pub fn port_range(text: &str) -> Result<RangeInclusive<u16>, String> {
    let ports = crate::plan::addr::parse_ports(text).map_err(|e| e.to_string())?;
    let (Some(&lo), Some(&hi)) = (ports.iter().min(), ports.iter().max()) else {
        return Err("no port given".into());
    };
    // Every port from lo to hi named at least once: one range.
    let mut named = vec![false; usize::from(hi - lo) + 1];
    for p in &ports {
        named[usize::from(p - lo)] = true;
    }
    if named.contains(&false) {
        return Err(format!(
            "{text:?} is not one range; write one port or LO-HI (e.g. 8090-8119)"
        ));
    }
    Ok(lo..=hi)
}

impl Settings {
    fn setup(&self) -> anyhow::Result<Setup> {
        if self.interval < MIN_INTERVAL {
            bail!(
                "--interval {} is too short; the least is {}",
                humantime::format_duration(self.interval),
                humantime::format_duration(MIN_INTERVAL)
            );
        }
        Ok(Setup {
            interval: self.interval,
            ports: self.ports.clone(),
            families: self.families,
            top: self.top,
        })
    }
}

/// Runs `c1m stat`: a redrawn screen on a terminal, plain lines (or JSON
/// with `--json`) otherwise. Ends after `--count` refreshes, on Ctrl-C,
/// SIGTERM, or `q`; exits 0 then, and on a closed pipe.
pub fn run(args: &Settings) -> anyhow::Result<ExitCode> {
    let setup = args.setup()?;
    if !args.json && io::stdout().is_terminal() {
        let mut screen = screen::Screen::enter().context("setting up the terminal")?;
        return watch(&setup, args, &mut screen);
    }
    run_to(args, &mut io::stdout().lock())
}

/// Runs `c1m stat` writing plain lines, or JSON with `--json`, to `out`:
/// never the redrawn screen.
pub fn run_to(args: &Settings, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let setup = args.setup()?;
    let mut sink = Lines {
        out,
        json: args.json,
        signals: Signals::catch(&[SIGINT, SIGTERM]).context("catching Ctrl-C")?,
    };
    watch(&setup, args, &mut sink)
}

/// What ended a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// Time for the next refresh.
    Tick,
    /// Draw the last view again (the terminal was resized).
    Redraw,
    /// Ctrl-C, SIGTERM, `q`.
    Quit,
}

/// Where views go.
trait Sink {
    /// Shows that the first count is under way.
    fn starting(&mut self) -> io::Result<()>;
    fn show(&mut self, v: &View) -> io::Result<()>;
    /// Waits until `until`, or less if something happens.
    fn wait(&mut self, until: Instant) -> io::Result<Wake>;
}

/// Plain lines or JSON lines.
struct Lines<'a> {
    out: &'a mut dyn Write,
    json: bool,
    signals: Signals,
}

impl Sink for Lines<'_> {
    fn starting(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn show(&mut self, v: &View) -> io::Result<()> {
        if self.json {
            serde_json::to_writer(&mut *self.out, v)?;
            writeln!(self.out)?;
        } else {
            if v.seq > 1 {
                writeln!(self.out)?;
            }
            for line in render::render(v) {
                writeln!(self.out, "{}", line.text)?;
            }
        }
        self.out.flush()
    }

    fn wait(&mut self, until: Instant) -> io::Result<Wake> {
        wait_for(&self.signals, until, POLL, |left| {
            std::thread::sleep(left);
            Ok(None)
        })
    }
}

/// Waits until `until` ([`Wake::Tick`]), a caught signal ([`Wake::Quit`]),
/// or an event: `poll(d)` waits at most `d` (at most `step`) and returns
/// what ended the wait, if anything did.
fn wait_for(
    signals: &Signals,
    until: Instant,
    step: Duration,
    mut poll: impl FnMut(Duration) -> io::Result<Option<Wake>>,
) -> io::Result<Wake> {
    loop {
        if !signals.take().is_empty() {
            return Ok(Wake::Quit);
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Wake::Tick);
        }
        if let Some(wake) = poll(left.min(step))? {
            return Ok(wake);
        }
    }
}

/// The refresh loop.
fn watch(setup: &Setup, args: &Settings, sink: &mut dyn Sink) -> anyhow::Result<ExitCode> {
    if let Some(ns) = &args.netns
        && !c1m_sys::netns::exists(ns)
    {
        bail!("no network namespace {ns:?} (`ip netns list` shows them)");
    }
    match watch_io(setup, args.count, args.netns.as_deref(), sink) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(anyhow::Error::new(e).context("writing the view")),
        Ok(()) => Ok(ExitCode::SUCCESS),
    }
}

fn watch_io(
    setup: &Setup,
    count: Option<u64>,
    netns: Option<&str>,
    sink: &mut dyn Sink,
) -> io::Result<()> {
    let start = Instant::now();
    let mut probes = Probes::new(Path::new("/proc"), netns);
    let mut tracker = Tracker::new(setup.clone(), c1m_probe::page_size());
    let mut diag = DiagThread::start(query(setup), netns.map(str::to_string), start);
    // The wait for a count asked for at a refresh: most take milliseconds
    // and show at once; a longer one shows at a later refresh.
    let fresh_wait = (setup.interval / 2).min(Duration::from_millis(500));
    sink.starting()?;
    let mut shown = 0u64;
    loop {
        let now = start.elapsed();
        let wait = if shown == 0 {
            FIRST_COUNT_WAIT
        } else {
            fresh_wait
        };
        if let Some(r) = diag.poll(now, setup.interval, wait) {
            tracker.add_diag(r);
        }
        let now = start.elapsed();
        let quick = probes.quick(now);
        if due(now, tracker.slab_at(), SLAB_EVERY) {
            let tcp_alloc = quick.sockstat.as_ref().ok().and_then(Sockstat::tcp_alloc);
            tracker.add_slab(SlabReading {
                at: now,
                slab: slabinfo::read(&probes.root).map_err(|e| e.to_string()),
                tcp_alloc,
            });
        }
        let view = tracker.refresh(quick);
        sink.show(&view)?;
        shown += 1;
        if count.is_some_and(|n| shown >= n) {
            return Ok(());
        }
        let next = start + next_tick(start.elapsed(), setup.interval);
        loop {
            match sink.wait(next)? {
                Wake::Tick => break,
                Wake::Redraw => sink.show(&view)?,
                Wake::Quit => return Ok(()),
            }
        }
    }
}

/// The netlink query for a setup: every state, per local port.
fn query(setup: &Setup) -> DiagQuery {
    DiagQuery {
        families: setup.families,
        states: StateSet::ALL,
        local_ports: setup.ports.clone(),
        remote_ports: setup.ports.clone(),
        port_match: PortMatch::Any,
        per_local_port: true,
    }
}

/// The first multiple of `interval` after `elapsed`: refreshes stay on a
/// grid, and one that overran skips the ticks it missed.
pub fn next_tick(elapsed: Duration, interval: Duration) -> Duration {
    let step = interval.as_nanos().max(1);
    let k = elapsed.as_nanos() / step + 1;
    Duration::from_nanos(u64::try_from(k * step).unwrap_or(u64::MAX))
}

/// Whether a reading last taken at `last` is due again `gap` later (less
/// a little, so that one due every refresh is not skipped for being a
/// few microseconds early).
pub fn due(now: Duration, last: Option<Duration>, gap: Duration) -> bool {
    last.is_none_or(|l| now.saturating_sub(l) + Duration::from_millis(50) >= gap)
}

/// The least time between netlink counts: a refresh, or longer if the
/// last count took long, to stay within [`DIAG_DUTY`] of a core.
pub fn count_gap(took: Duration, interval: Duration) -> Duration {
    interval.max(took.div_f64(DIAG_DUTY))
}

/// Netlink counts in their own thread, so a 2 s count at 2M sockets never
/// holds up the cheap figures or Ctrl-C. The refresh loop asks for a
/// count when one is due; the thread ends when this is dropped (after
/// the count under way, if any).
struct DiagThread {
    ask: mpsc::Sender<()>,
    answers: mpsc::Receiver<DiagReading>,
    /// A count was asked for and has not come back.
    busy: bool,
    /// When the last count started and how long it took.
    last: Option<(Duration, Duration)>,
}

impl DiagThread {
    /// The thread counts in network namespace `netns` (entered for good:
    /// the thread does nothing else), or in c1m's own.
    fn start(query: DiagQuery, netns: Option<String>, start: Instant) -> Self {
        let (ask, asked) = mpsc::channel::<()>();
        let (answer, answers) = mpsc::channel();
        std::thread::Builder::new()
            .name("stat-netlink".into())
            .spawn(move || {
                let mut diag: Option<TcpDiag> = None;
                let entered = match &netns {
                    Some(ns) => c1m_sys::netns::enter(ns).map_err(|e| e.to_string()),
                    None => Ok(()),
                };
                for () in asked {
                    if let Err(why) = &entered {
                        let at = start.elapsed();
                        let counts = Err(why.clone());
                        if answer
                            .send(DiagReading {
                                at,
                                took: Duration::ZERO,
                                counts,
                            })
                            .is_err()
                        {
                            return;
                        }
                        continue;
                    }
                    let at = start.elapsed();
                    let counts = count_with(&mut diag, &query);
                    let took = start.elapsed().saturating_sub(at);
                    let counts = counts.map_err(|e| e.to_string());
                    if answer.send(DiagReading { at, took, counts }).is_err() {
                        return;
                    }
                }
            })
            .expect("spawning a thread");
        Self {
            ask,
            answers,
            busy: false,
            last: None,
        }
    }

    /// Asks for a count if one is due, waits up to `wait` for it, and
    /// returns the latest count that came back, if any.
    fn poll(&mut self, now: Duration, interval: Duration, wait: Duration) -> Option<DiagReading> {
        let mut got = self.answers.try_recv().ok();
        if got.is_some() {
            self.busy = false;
        }
        let last_at = self.last.map(|(at, _)| at);
        let gap = self
            .last
            .map_or(interval, |(_, took)| count_gap(took, interval));
        if !self.busy && due(now, last_at, gap) && self.ask.send(()).is_ok() {
            self.busy = true;
            if let Ok(r) = self.answers.recv_timeout(wait) {
                self.busy = false;
                got = Some(r);
            }
        }
        if let Some(r) = &got {
            self.last = Some((r.at, r.took));
        }
        got
    }
}

fn count_with(diag: &mut Option<TcpDiag>, query: &DiagQuery) -> io::Result<TcpCounts> {
    let d = match diag {
        Some(d) => d,
        None => diag.insert(TcpDiag::new()?),
    };
    d.count(query)
}

/// The cheap `/proc` files, held open and re-read with one `pread` each.
struct Probes {
    root: PathBuf,
    meminfo: Held,
    sockstat: Held,
    sockstat6: Held,
    netstat: Held,
    snmp: Held,
}

/// A `/proc` file opened on first use, reopened after an error; a
/// `net/` file of another network namespace is opened from a thread
/// inside it (through `/proc/thread-self`), and then reads that
/// namespace's figures for as long as it is open.
struct Held {
    path: PathBuf,
    netns: Option<String>,
    file: Option<ProcFile>,
}

impl Held {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            netns: None,
            file: None,
        }
    }

    fn open(&self) -> io::Result<ProcFile> {
        match &self.netns {
            None => ProcFile::open(&self.path),
            Some(ns) => c1m_sys::netns::run_in(ns, || ProcFile::open(&self.path))?,
        }
    }

    fn read<T>(
        &mut self,
        parse: impl FnOnce(&[u8]) -> Result<T, c1m_probe::ParseError>,
    ) -> Result<T, String> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(self.open().map_err(|e| e.to_string())?),
        };
        file.read_parsed(parse).map_err(|e| {
            self.file = None;
            e.to_string()
        })
    }
}

impl Probes {
    fn new(root: &Path, netns: Option<&str>) -> Self {
        let held = |p: &str| Held::new(root.join(p));
        let net = |p: &str| match netns {
            None => held(&format!("net/{p}")),
            Some(ns) => Held {
                netns: Some(ns.to_string()),
                ..held(&format!("thread-self/net/{p}"))
            },
        };
        Self {
            root: root.to_path_buf(),
            meminfo: held("meminfo"),
            sockstat: net("sockstat"),
            sockstat6: net("sockstat6"),
            netstat: net("netstat"),
            snmp: net("snmp"),
        }
    }

    fn quick(&mut self, at: Duration) -> Quick {
        let netstat = self.netstat.read(Netstat::parse).and_then(|mut n| {
            n.merge(self.snmp.read(Netstat::parse)?);
            Ok(n)
        });
        Quick {
            at,
            sockstat: self.sockstat.read(Sockstat::parse),
            sockstat6: self.sockstat6.read(Sockstat::parse).ok(),
            netstat,
            meminfo: self.meminfo.read(Meminfo::parse),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_stay_on_the_grid() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(next_tick(s(0), s(1)), s(1));
        assert_eq!(next_tick(ms(1_010), s(1)), s(2));
        // A refresh that overran skips what it missed.
        assert_eq!(next_tick(ms(3_500), s(1)), s(4));
        assert_eq!(next_tick(ms(250), ms(200)), ms(400));
    }

    #[test]
    fn slabinfo_at_most_once_a_second() {
        let ms = Duration::from_millis;
        let slab_due = |now, last| due(now, last, SLAB_EVERY);
        assert!(slab_due(ms(0), None));
        assert!(!slab_due(ms(200), Some(ms(0))));
        assert!(!slab_due(ms(800), Some(ms(0))));
        assert!(slab_due(ms(1_000), Some(ms(0))));
        // A 1 s refresh a little early still reads it.
        assert!(slab_due(ms(1_990), Some(ms(1_001))));
    }

    #[test]
    fn slow_counts_run_less_often() {
        let ms = Duration::from_millis;
        // 3 ms at 4k sockets: every refresh.
        let gap = count_gap(ms(3), ms(1_000));
        assert_eq!(gap, ms(1_000));
        assert!(due(ms(2_000), Some(ms(1_001)), gap));
        // 1.7 s at 2M sockets: every 17 s, 10% of a core.
        let gap = count_gap(ms(1_700), ms(1_000));
        assert_eq!(gap, ms(17_000));
        assert!(!due(ms(21_000), Some(ms(5_000)), gap));
        assert!(due(ms(22_000), Some(ms(5_000)), gap));
    }

    #[test]
    fn port_ranges() {
        assert_eq!(port_range("8970"), Ok(8970..=8970));
        assert_eq!(port_range("8090-8119"), Ok(8090..=8119));
        assert_eq!(port_range("8091,8090"), Ok(8090..=8091));
        assert!(port_range("80,443").unwrap_err().contains("one range"));
        assert!(port_range("0").is_err());
        assert!(port_range("9-1").is_err());
    }

    #[test]
    fn short_intervals_are_refused() {
        let mut s = Settings {
            interval: Duration::from_millis(10),
            ports: Some(8970..=8970),
            families: Families::V4,
            count: None,
            json: false,
            top: 10,
            netns: None,
        };
        assert!(s.setup().unwrap_err().to_string().contains("too short"));
        s.interval = MIN_INTERVAL;
        let setup = s.setup().unwrap();
        assert_eq!(
            (setup.families, setup.ports),
            (Families::V4, Some(8970..=8970))
        );
    }
}
