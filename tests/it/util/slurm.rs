//! A real Slurm cluster in the lab's network namespaces, for the tests of
//! sharded runs (issue 11): `slurmctld` on the lab's server host, one
//! `slurmd` per lab client host, each in its own UTS namespace (its own
//! host name, the name of its network namespace) and its own network
//! namespace (its own addresses and port space), all authenticated by a
//! `munged` of the test's own.
//!
//! ```text
//!  munged (this namespace; key, socket, seed, log in DIR/munge)
//!  c1m-srv   slurmctld  host name c1m-srv   198.18.0.1:6817   ◄── sbatch, sinfo, scontrol (nsenter)
//!  c1m-cli1  slurmd     host name c1m-cli1  198.18.1.1:6818   ─┐
//!  …                                                            ├ one batch task each (--exclusive)
//!  c1m-cliK  slurmd     host name c1m-cliK  198.18.K.1:6818   ─┘
//! ```
//!
//! Everything Slurm and munge read or write is in a fresh temporary
//! directory DIR (`slurm.conf`, `cgroup.conf`, an empty `plugstack.conf`,
//! state, spool, logs, pid files, the job scripts and their output):
//! nothing under `/etc` is read or written. The daemons run in the
//! foreground (`-D`, `-F`) as children of the test, started with
//! `nsenter --net=/run/netns/HOST` (not `ip netns exec`, which mounts a
//! fresh `/sys`) inside `unshare --uts`.
//!
//! Slurm's cgroup plugins are not used (`proctrack/linuxproc`,
//! `task/none`, `jobacct_gather/none`): the slurmd's of one machine would
//! share one cgroup hierarchy, and the tests need no limits enforced.
//! Debian 12's Slurm (22.05) has no `CgroupPlugin=disabled`; the
//! `cgroup.conf` written says `autodetect` and is read by no plugin.
//!
//! [`SlurmLab`]'s `Drop` kills the daemons, every process left in a lab
//! namespace (batch steps, `slurmstepd`, what they started) and takes the
//! lab down (`c1m lab down`), also when the test panics; the daemons also
//! get `PR_SET_PDEATHSIG` in case the test process itself is killed.
//!
//! The root rule: not root, [`SlurmLab::start`] prints one line (skipped:
//! needs root for network namespaces) and returns `None`; root and
//! something missing (a program, a lab already up), it fails with one line
//! naming the cause and the fix: the rule of [`super::root`].

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Display;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::MutexGuard;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use c1m::lab::plan::{Layout, SERVER_NETNS};
use c1m::lab::{self, STATE_FILE};

/// What the tests need installed, and which package has it (Debian's).
const PROGRAMS: &[(&str, &str)] = &[
    ("slurmctld", "slurmctld"),
    ("slurmd", "slurmd"),
    ("sbatch", "slurm-client"),
    ("sinfo", "slurm-client"),
    ("scontrol", "slurm-client"),
    ("sdiag", "slurm-client"),
    ("munged", "munge"),
    ("nsenter", "util-linux"),
    ("unshare", "util-linux"),
    ("hostname", "hostname"),
    ("ip", "iproute2"),
];

/// How long the daemons have to come up, and a batch array to finish.
const UP_LIMIT: Duration = Duration::from_secs(30);
const ARRAY_LIMIT: Duration = Duration::from_secs(600);
/// Between two looks at the cluster's state.
const POLL: Duration = Duration::from_millis(50);

/// Job scripts of one cluster are numbered.
static JOBS: AtomicUsize = AtomicUsize::new(0);

/// One line, and the test fails: the cause and the fix.
#[track_caller]
fn cannot_run(cause: impl Display, fix: impl Display) -> ! {
    panic!("slurm lab: cannot run as root here: {cause}; fix: {fix}")
}

/// Where `program` is: on `PATH`, or in the sbin directories a non-login
/// root shell may lack on its `PATH`.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// One batch task of an array job, as Slurm ran it.
#[derive(Debug, Clone)]
pub struct TaskOutput {
    /// Its index in the array (`SLURM_ARRAY_TASK_ID`), 0-based.
    pub task: u32,
    /// Its own job id (`SLURM_JOB_ID`; the array's id is shared).
    pub job_id: u32,
    /// The node (= lab client host name = network namespace) it ran on,
    /// by `scontrol show job` (`BatchHost`).
    pub node: String,
    /// Its final job state: `COMPLETED`, `FAILED`, `CANCELLED`, ….
    pub state: String,
    /// The script's exit status (`ExitCode=STATUS:SIGNAL`, first part).
    pub exit_code: i32,
    /// The signal that ended it, 0 for none (second part).
    pub signal: i32,
    /// What the script wrote to stdout and stderr (`--output`).
    pub output: String,
}

impl TaskOutput {
    /// Whether the task ran to the end with exit status 0.
    pub fn ok(&self) -> bool {
        self.state == "COMPLETED" && self.exit_code == 0 && self.signal == 0
    }
}

/// A daemon the cluster started, killed when the cluster goes.
struct Daemon {
    name: String,
    child: Child,
}

/// A Slurm cluster on a lab that it brought up; everything goes on drop.
pub struct SlurmLab {
    dir: PathBuf,
    conf: PathBuf,
    layout: Option<Layout>,
    daemons: Vec<Daemon>,
    /// Absolute paths of [`PROGRAMS`].
    bins: BTreeMap<&'static str, PathBuf>,
    /// From `lab up` to every node idle.
    pub up_took: Duration,
    down_done: bool,
    _heavy: MutexGuard<'static, ()>,
}

impl SlurmLab {
    /// Brings up a lab of `clients` client hosts with `client_addrs`
    /// addresses each (`c1m lab up`), munged, slurmctld on the server
    /// host and a slurmd per client host, and waits until every node is
    /// idle and the scheduler has made its first pass (about 3 s after
    /// slurmctld starts; from then on a job starts when submitted). `None`
    /// when not root (one line printed: the test is
    /// skipped). Panics with the cause and the fix when root and a program
    /// is missing or a lab is up already, and with the daemons' logs when
    /// the cluster does not come up within 30 s.
    #[track_caller]
    pub fn start(clients: usize, client_addrs: usize) -> Option<SlurmLab> {
        SlurmLab::bring_up(clients, client_addrs, true)
    }

    /// The lab's hosts alone, as [`SlurmLab::start`] brings them up but
    /// with no munged or Slurm daemon: for a test that runs commands on
    /// the hosts itself, as another scheduler would (a Kubernetes Job's
    /// pods). [`SlurmLab::slurm`] and [`SlurmLab::run_array`] have no
    /// cluster to talk to on it; the rest is the same, teardown included.
    #[track_caller]
    pub fn hosts(clients: usize, client_addrs: usize) -> Option<SlurmLab> {
        SlurmLab::bring_up(clients, client_addrs, false)
    }

    #[track_caller]
    fn bring_up(clients: usize, client_addrs: usize, slurm: bool) -> Option<SlurmLab> {
        super::root::needs_root(if slurm {
            "network namespaces (c1m lab) and Slurm's daemons"
        } else {
            "network namespaces (c1m lab)"
        })?;
        let mut bins = BTreeMap::new();
        let needed =
            |program: &str| slurm || ["nsenter", "unshare", "hostname", "ip"].contains(&program);
        for &(program, package) in PROGRAMS.iter().filter(|(p, _)| needed(p)) {
            match which(program) {
                Some(p) => {
                    bins.insert(program, p);
                }
                None => cannot_run(
                    format_args!("{program} is not installed"),
                    format_args!(
                        "apt-get install {package} (./test.sh installs slurmctld slurmd slurm-client munge)"
                    ),
                ),
            }
        }
        let heavy = super::heavy();
        if let Err(up) = super::lab::claim() {
            cannot_run(
                up,
                "`c1m lab down` (if that lab is yours and idle), then run the test again",
            );
        }
        let dir = std::env::temp_dir().join(format!(
            "c1m-slurm-{}-{}",
            std::process::id(),
            JOBS.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        let mut lab = SlurmLab {
            conf: dir.join("slurm.conf"),
            dir,
            layout: None,
            daemons: Vec::new(),
            bins,
            up_took: Duration::ZERO,
            down_done: false,
            _heavy: heavy,
        };
        // From here on a panic drops `lab`: whatever was started goes.
        let t0 = Instant::now();
        lab.build(clients, client_addrs, slurm);
        lab.up_took = t0.elapsed();
        Some(lab)
    }

    fn bin(&self, program: &str) -> &Path {
        &self.bins[program]
    }

    fn build(&mut self, clients: usize, client_addrs: usize, slurm: bool) {
        let dir = self.dir.clone();
        for d in ["munge", "ctld", "log", "jobs"] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        if !slurm {
            self.lab_up(clients, client_addrs);
            return;
        }
        // munged checks its paths: the key readable by its user only,
        // the socket's directory searchable by all and writable by none
        // but its owner.
        set_mode(&dir, 0o755);
        set_mode(&dir.join("munge"), 0o755);
        // A munge key is random bytes (32 to 1024), readable by munged's
        // user only: what `mungekey --create` writes, 128 of them.
        let key = dir.join("munge/munge.key");
        let mut bytes = vec![0u8; 128];
        {
            use std::io::Read;
            fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut bytes))
                .unwrap();
        }
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&key)
                .and_then(|mut f| f.write_all(&bytes))
                .unwrap();
        }

        let layout = self.lab_up(clients, client_addrs);
        for c in &layout.clients {
            fs::create_dir_all(dir.join("spool").join(&c.netns)).unwrap();
        }
        fs::write(&self.conf, slurm_conf(&dir, &layout)).unwrap();
        fs::write(dir.join("cgroup.conf"), CGROUP_CONF).unwrap();
        fs::write(dir.join("plugstack.conf"), "").unwrap();

        let sock = dir.join("munge/munge.socket");
        let mut munged = Command::new(self.bin("munged"));
        munged
            .arg("--foreground")
            .arg(format!("--key-file={}", key.display()))
            .arg(format!("--socket={}", sock.display()))
            .arg(format!(
                "--pid-file={}",
                dir.join("munge/munged.pid").display()
            ))
            .arg(format!(
                "--seed-file={}",
                dir.join("munge/munged.seed").display()
            ))
            .arg(format!(
                "--log-file={}",
                dir.join("log/munged.log").display()
            ));
        self.spawn("munged", munged);
        self.wait_for("munged's socket", |_| sock.exists());

        // slurmctld on the server host, under the server host's name.
        let ctld = self.in_host_named(
            SERVER_NETNS,
            self.bin("slurmctld"),
            &[OsStr::new("-D"), OsStr::new("-f"), self.conf.as_os_str()],
        );
        self.spawn("slurmctld", ctld);
        self.wait_for("slurmctld to answer `scontrol ping`", |lab| {
            let o = lab.slurm("scontrol").arg("ping").output().unwrap();
            super::text(&o.stdout).contains("is UP")
        });
        for c in &layout.clients {
            let slurmd = self.in_host_named(
                &c.netns,
                self.bin("slurmd"),
                &[
                    OsStr::new("-D"),
                    OsStr::new("-f"),
                    self.conf.as_os_str(),
                    OsStr::new("-N"),
                    OsStr::new(&c.netns),
                ],
            );
            self.spawn(&format!("slurmd {}", c.netns), slurmd);
        }
        let want = layout.clients.len();
        self.wait_for("every node idle in sinfo", |lab| {
            let o = lab
                .slurm("sinfo")
                .args(["-h", "-N", "-o", "%N %T"])
                .output()
                .unwrap();
            let text = super::text(&o.stdout);
            let idle = text
                .lines()
                .filter(|l| l.split_whitespace().nth(1) == Some("idle"))
                .count();
            idle == want
        });
        // Until its scheduler's first pass, slurmctld holds a new batch job
        // for 3 s (its built-in `batch_sched_delay`; the 0 of slurm.conf is
        // read in that pass, which comes 3 s after start): ready is after
        // it, when a job starts as it is submitted.
        self.wait_for("the scheduler's first pass (sdiag)", |lab| {
            let o = lab.slurm("sdiag").output().unwrap();
            main_schedule_cycles(&super::text(&o.stdout)) >= 1
        });
    }

    /// `c1m lab up` of `clients` client hosts with `client_addrs`
    /// addresses each; its layout.
    fn lab_up(&mut self, clients: usize, client_addrs: usize) -> Layout {
        let up = super::run(&[
            "lab",
            "up",
            "--clients",
            &clients.to_string(),
            "--client-addrs",
            &client_addrs.to_string(),
        ]);
        // Recorded before the check: a half-built lab is taken down too.
        self.layout = lab::layout().ok().flatten();
        assert!(
            up.status.success(),
            "c1m lab up: {}",
            super::text(&up.stderr)
        );
        self.layout.clone().expect("c1m lab up recorded no layout")
    }

    /// `nsenter --net=/run/netns/NETNS` in a new UTS namespace whose host
    /// name is NETNS, running `program args`.
    fn in_host_named(&self, netns: &str, program: &Path, args: &[&OsStr]) -> Command {
        let mut cmd = Command::new(self.bin("unshare"));
        cmd.arg("--uts")
            .arg("--")
            .arg(self.bin("nsenter"))
            .arg(format!("--net=/run/netns/{netns}"))
            .arg("--")
            .arg("/bin/sh")
            .arg("-c")
            .arg(r#"h="$1"; shift; "$HOSTNAME_BIN" "$h" && exec "$@""#)
            .arg("sh")
            .arg(netns)
            .arg(program)
            .args(args)
            .env("HOSTNAME_BIN", self.bin("hostname"))
            .env("SLURM_CONF", &self.conf);
        cmd
    }

    /// Starts a daemon, its stdout and stderr to `log/NAME.out`; it gets
    /// SIGKILL if the test's thread dies without dropping the cluster.
    fn spawn(&mut self, name: &str, mut cmd: Command) {
        let log = self
            .dir
            .join("log")
            .join(format!("{}.out", name.replace(' ', "-")));
        let f = fs::File::create(&log).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f);
        let nice = c1m_sys::process::nice().unwrap_or(0);
        c1m_sys::process::make_worker(&mut cmd, 0, nice);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        self.daemons.push(Daemon {
            name: name.to_string(),
            child,
        });
    }

    /// Polls `ready` until it holds; panics with the daemons' logs after
    /// [`UP_LIMIT`] or when a daemon exited.
    fn wait_for(&mut self, what: &str, mut ready: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + UP_LIMIT;
        loop {
            if ready(self) {
                return;
            }
            let dead: Vec<String> = self
                .daemons
                .iter_mut()
                .filter_map(|d| match d.child.try_wait() {
                    Ok(Some(st)) => Some(format!("{} exited ({st})", d.name)),
                    _ => None,
                })
                .collect();
            if !dead.is_empty() || Instant::now() > deadline {
                panic!(
                    "slurm lab: waiting for {what}: {}\n{}",
                    if dead.is_empty() {
                        format!("not within {UP_LIMIT:?}")
                    } else {
                        dead.join(", ")
                    },
                    self.logs()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// The last lines of every log, for a failure message.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        let Ok(entries) = fs::read_dir(self.dir.join("log")) else {
            return s;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let text = fs::read_to_string(&p).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(15)..];
            s += &format!(
                "--- {} (last {} lines)\n{}\n",
                p.display(),
                tail.len(),
                tail.join("\n")
            );
        }
        s
    }

    /// The lab's layout (as `c1m lab up` recorded it).
    pub fn layout(&self) -> &Layout {
        self.layout.as_ref().expect("the lab is up")
    }

    /// The directory every host sees (one mount namespace): job scripts,
    /// their output, Slurm's and munge's files. Removed on drop unless the
    /// test panicked (then its path is printed).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The lab's server address (198.18.0.1), where slurmctld listens
    /// and `c1m serve` should.
    pub fn server_addr(&self) -> IpAddr {
        self.layout().server.addrs[0]
    }

    /// `program` to be run in the lab host `netns`'s network namespace
    /// (`nsenter --net`), e.g. `c1m serve` on [`SERVER_NETNS`]. Its
    /// process is killed on drop if still running.
    pub fn on_host(&self, netns: &str, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(self.bin("nsenter"));
        cmd.arg(format!("--net=/run/netns/{netns}"))
            .arg("--")
            .arg(program);
        cmd
    }

    /// A Slurm client command (`sbatch`, `sinfo`, `scontrol`, `squeue`…)
    /// on the server host, which reaches slurmctld (the lab has no route
    /// from this namespace), with this cluster's `SLURM_CONF`.
    pub fn slurm(&self, program: &str) -> Command {
        let path = which(program).unwrap_or_else(|| PathBuf::from(program));
        let mut cmd = self.on_host(SERVER_NETNS, path);
        cmd.env("SLURM_CONF", &self.conf);
        cmd
    }

    /// Writes `script` (a `#!/bin/sh` line is added when it has none) as
    /// job `n`'s script, in a fresh directory for its files; returns both.
    pub fn job_files(&self, script: &str) -> (PathBuf, PathBuf) {
        let n = JOBS.fetch_add(1, Ordering::Relaxed);
        let jobdir = self.dir.join("jobs").join(n.to_string());
        fs::create_dir_all(&jobdir).unwrap();
        let path = jobdir.join("job.sh");
        let body = if script.starts_with("#!") {
            script.to_string()
        } else {
            format!("#!/bin/sh\n{script}")
        };
        fs::write(&path, body).unwrap();
        (jobdir, path)
    }

    /// Runs `script` as a batch array job of `k` tasks (`--array=0-(k-1)`),
    /// one task per node (`--nodes=1 --ntasks=1 --exclusive`: each task
    /// takes a whole node), so all `k` run at once on `k` different lab
    /// client hosts; waits for all to end and returns them by task index.
    ///
    /// The script runs as root in its host's network and UTS namespaces,
    /// from [`SlurmLab::dir`], with this process's environment plus
    /// Slurm's (`SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_COUNT`, …) and
    /// `C1M_SLURM_OUT`, a directory of its own for files. Waits as
    /// [`SlurmLab::wait_array`] does. Panics when `k` exceeds the nodes,
    /// sbatch fails, or the tasks do not end within 10 minutes; a task that
    /// fails is returned as such (see [`TaskOutput::ok`]).
    pub fn run_array(&self, k: usize, script: &str) -> Vec<TaskOutput> {
        let nodes = self.layout().clients.len();
        assert!(
            (1..=nodes).contains(&k),
            "{k} tasks, one per node: the lab has {nodes} client hosts"
        );
        let (jobdir, path) = self.job_files(script);
        let out = self
            .slurm("sbatch")
            .arg("--parsable")
            .arg(format!("--array=0-{}", k - 1))
            .args(["--nodes=1", "--ntasks=1", "--exclusive"])
            .arg(format!("--chdir={}", self.dir.display()))
            .arg(format!("--output={}/task-%a.out", jobdir.display()))
            .arg(&path)
            .env("C1M_SLURM_OUT", &jobdir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sbatch: {}\n{}",
            super::text(&out.stderr),
            self.logs()
        );
        let stdout = super::text(&out.stdout);
        let job: u32 = stdout
            .trim()
            .split(';')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("sbatch --parsable printed {stdout:?}"));

        self.wait_array(job, k)
            .into_iter()
            .map(|mut t| {
                t.output = fs::read_to_string(jobdir.join(format!("task-{}.out", t.task)))
                    .unwrap_or_default();
                t
            })
            .collect()
    }

    /// Waits for the `k` tasks of array job `job` to end, by polling
    /// `scontrol show job` (sbatch `--wait` sleeps 2 s, then 8 s, then
    /// longer between its looks); returns them by task index, without
    /// their output. Panics when they do not end within 10 minutes.
    pub fn wait_array(&self, job: u32, k: usize) -> Vec<TaskOutput> {
        let deadline = Instant::now() + ARRAY_LIMIT;
        let tasks = loop {
            let o = self
                .slurm("scontrol")
                .args(["-o", "show", "job", &job.to_string()])
                .output()
                .unwrap();
            let ended = ended_tasks(&super::text(&o.stdout));
            if ended.len() == k {
                break ended;
            }
            assert!(
                Instant::now() < deadline,
                "array job {job}: {} of {k} tasks ended within {ARRAY_LIMIT:?}:\n{}\n{}",
                ended.len(),
                super::text(&o.stdout),
                self.logs()
            );
            std::thread::sleep(POLL);
        };
        tasks.into_values().collect()
    }

    /// The daemons' process ids (munged, slurmctld, each slurmd).
    pub fn daemon_pids(&self) -> Vec<u32> {
        self.daemons.iter().map(|d| d.child.id()).collect()
    }

    /// Takes everything down now (as drop does) and says how long it took.
    pub fn down(mut self) -> Duration {
        let t0 = Instant::now();
        self.teardown();
        t0.elapsed()
    }

    /// Kills the daemons (SIGTERM, then SIGKILL after 2 s), every process
    /// left in a lab namespace, and takes the lab down. Never panics (it
    /// runs in drop, maybe while a panic unwinds); what it cannot remove
    /// it prints.
    fn teardown(&mut self) {
        if self.down_done {
            return;
        }
        self.down_done = true;
        // slurmd's first, the controller after them, munge last.
        for d in self.daemons.iter_mut().rev() {
            let _ = Command::new("kill")
                .args(["-TERM", &d.child.id().to_string()])
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for d in &mut self.daemons {
            while matches!(d.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if matches!(d.child.try_wait(), Ok(None)) {
                eprintln!("slurm lab: {} did not stop on SIGTERM; killed", d.name);
                let _ = d.child.kill();
            }
            let _ = d.child.wait();
        }
        if let Some(layout) = &self.layout {
            for ns in layout.namespaces() {
                kill_all_in(ns);
            }
        }
        if self.layout.is_some() || Path::new(STATE_FILE).exists() {
            let o = super::run(&["lab", "down"]);
            if !o.status.success() {
                eprintln!("slurm lab: c1m lab down: {}", super::text(&o.stderr));
            }
        }
        super::lab::release();
        if std::thread::panicking() {
            eprintln!(
                "slurm lab: Slurm's and munge's files kept in {}",
                self.dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for SlurmLab {
    fn drop(&mut self) {
        self.teardown();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// SIGKILLs every process in the network namespace `netns` (`ip netns
/// pids`) until none is left (a step may fork meanwhile); gives up after
/// 2 s, saying so.
fn kill_all_in(netns: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let o = Command::new("ip").args(["netns", "pids", netns]).output();
        let pids: Vec<String> = o
            .map(|o| super::text(&o.stdout))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if pids.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            eprintln!("slurm lab: processes {pids:?} left in {netns}");
            return;
        }
        let _ = Command::new("kill").arg("-KILL").args(&pids).output();
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The tasks of an array job that have ended, by index, from `scontrol
/// -o show job ID` (one line per task once Slurm split the array; the
/// tasks still pending share one line, `ArrayTaskId=1-2`).
pub fn ended_tasks(scontrol: &str) -> BTreeMap<u32, TaskOutput> {
    const ENDED: &[&str] = &[
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "BOOT_FAIL",
        "DEADLINE",
        "PREEMPTED",
    ];
    let mut out = BTreeMap::new();
    for line in scontrol.lines() {
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        };
        let (Some(task), Some(state)) = (
            field("ArrayTaskId").and_then(|t| t.parse::<u32>().ok()),
            field("JobState"),
        ) else {
            continue;
        };
        if !ENDED.contains(&state) {
            continue;
        }
        let (exit_code, signal) = field("ExitCode")
            .and_then(|e| e.split_once(':'))
            .map(|(a, b)| (a.parse().unwrap_or(-1), b.parse().unwrap_or(-1)))
            .unwrap_or((-1, -1));
        out.insert(
            task,
            TaskOutput {
                task,
                job_id: field("JobId").and_then(|j| j.parse().ok()).unwrap_or(0),
                node: field("BatchHost").unwrap_or_default().to_string(),
                state: state.to_string(),
                exit_code,
                signal,
                output: String::new(),
            },
        );
    }
    out
}

/// Processes (pid, command line) whose command line contains `needle`
/// (`/proc/PID/cmdline`, arguments joined by spaces), this one aside.
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter_map(|pid| {
            let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
            cmd.contains(needle)
                .then(|| (pid, cmd.trim_end().to_string()))
        })
        .collect()
}

/// The main scheduler's passes so far, from `sdiag` ("Main schedule
/// statistics", its "Total cycles"); 0 when not found.
pub fn main_schedule_cycles(sdiag: &str) -> u64 {
    sdiag
        .split_once("Main schedule statistics")
        .and_then(|(_, rest)| {
            rest.lines()
                .find_map(|l| l.trim().strip_prefix("Total cycles:"))
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// cgroup.conf: read by no plugin (none of the configured ones is a cgroup
/// plugin); written so Slurm finds this one beside slurm.conf, not one of
/// the machine's.
const CGROUP_CONF: &str = "\
# c1m's test cluster uses no cgroup plugin (proctrack/linuxproc, task/none,
# jobacct_gather/none): its slurmd's share one machine's cgroup tree.
CgroupPlugin=autodetect
";

/// slurm.conf for the lab `layout`, every path in `dir`.
fn slurm_conf(dir: &Path, layout: &Layout) -> String {
    let d = dir.display();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut s = format!(
        "\
# c1m's test cluster: slurmctld on the lab's server host, a slurmd per
# client host (each in its own network and UTS namespace), all as root.
ClusterName=c1mlab
SlurmctldHost={srv}({srv_addr})
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={d}/munge/munge.socket
StateSaveLocation={d}/ctld
SlurmdSpoolDir={d}/spool/%n
SlurmctldPidFile={d}/ctld/slurmctld.pid
SlurmdPidFile={d}/spool/%n/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd-%n.log
PlugStackConfig={d}/plugstack.conf
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/builtin
# A batch job is scheduled when submitted, not up to 3 s later.
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
",
        srv = layout.server.netns,
        srv_addr = layout.server.addrs[0],
    );
    for c in &layout.clients {
        s += &format!(
            "NodeName={n} NodeHostname={n} NodeAddr={a} CPUs={cpus} State=UNKNOWN\n",
            n = c.netns,
            a = c.addrs[0],
        );
    }
    s += "PartitionName=lab Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n";
    s
}
