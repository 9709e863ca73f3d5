//! `c1m merge` never claims what did not happen at once: shards run one
//! after the other against one `c1m serve` fail the merge, naming the gap;
//! the same shards run together (`--start-at`) merge into what the
//! server held, as `ss` reads it while they hold. One run's report given
//! twice, and a file with no report in it, are refused with one line. In
//! the lab, two shards in two network namespaces with one host name each
//! count their own namespace's endpoints.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::util::*;

/// The server's port: nothing else in the tests uses it.
const PORT: u16 = 8881;
/// Connections over the two shards, 10 each.
const TOTAL: u64 = 20;

/// The variables a scheduler names a shard with, cleared on every child
/// (a test run inside a Slurm job is not sharded by accident).
const SCHEDULER_VARS: [&str; 5] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_PROCID",
    "SLURM_NTASKS",
    "JOB_COMPLETION_INDEX",
];

/// `c1m connect` shard `index` of 2 of [`TOTAL`] to `target`, holding 3 s,
/// its report written to `json`; `start_at`: `--start-at`'s value
/// (`util::start_in`). `prefix`: the command that runs c1m (`ip netns exec NS`),
/// if any.
fn shard(
    prefix: &[&str],
    target: &str,
    index: u32,
    json: &Path,
    start_at: Option<&str>,
) -> Running {
    let bin = env!("CARGO_BIN_EXE_c1m");
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.env("C1M_STATE_DIR", state_dir());
    for v in SCHEDULER_VARS {
        cmd.env_remove(v);
    }
    let shard = format!("{index}/2");
    cmd.args(["connect", target, "-n", &TOTAL.to_string()])
        .args(["--shard", &shard, "--hold", "3s", "--json"])
        .arg(json);
    if let Some(t) = start_at {
        cmd.args(["--start-at", t]);
    }
    spawn_cmd(cmd)
}

/// `c1m merge FILES --json MERGED`: its output and the merged report (if
/// written).
fn merge(files: &[&Path], name: &str) -> (Output, Option<serde_json::Value>) {
    let merged = report_path(name);
    let _ = std::fs::remove_file(&merged);
    let out = c1m()
        .arg("merge")
        .args(files)
        .arg("--json")
        .arg(&merged)
        .output()
        .expect("running c1m merge");
    let json = merged.exists().then(|| read_json(&merged));
    (out, json)
}

/// ESTABLISHED sockets on the server's port, by `ss` (`prefix`: run in a
/// namespace).
fn server_side(prefix: &[&str]) -> u64 {
    let filter = format!("( sport = :{PORT} )");
    if prefix.is_empty() {
        return ss_established(&filter);
    }
    let mut cmd = Command::new(prefix[0]);
    cmd.args(&prefix[1..])
        .args(["ss", "-Htn", "state", "established", &filter]);
    let out = cmd.output().expect("ss");
    assert!(out.status.success(), "ss: {}", text(&out.stderr));
    text(&out.stdout).lines().filter(|l| !l.is_empty()).count() as u64
}

/// Polls [`server_side`] until it reads `want` (at most 5 s); the last
/// reading.
fn server_reads(prefix: &[&str], want: u64) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n = server_side(prefix);
        if n == want || std::time::Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs both shards together (`--start-at`) or one after the other,
/// reading the server's side with ss while each holds; the
/// reports' paths and the most ss read at once.
fn two_shards(
    prefixes: [&[&str]; 2],
    server: &[&str],
    target: &str,
    name: &str,
    together: bool,
) -> (Vec<PathBuf>, u64) {
    let json: Vec<PathBuf> = (0..2)
        .map(|i| report_path(&format!("{name}-{i}")))
        .collect();
    let mut most = 0;
    if together {
        // Time for both shards to start their workers (a few
        // milliseconds; a shard ready late starts at once, still
        // holding with the other).
        let at = start_in(2.0);
        let mut running: Vec<Running> = (0..2)
            .map(|i| shard(prefixes[i], target, i as u32, &json[i], Some(&at)))
            .collect();
        for r in &mut running {
            r.wait_line(" hold ", Duration::from_secs(60));
        }
        most = most.max(server_reads(server, TOTAL));
        for r in running {
            let (code, out, err) = r.finish(Duration::from_secs(60));
            assert_eq!(code, Some(0), "{out}\n{}", err.join("\n"));
        }
    } else {
        for i in 0..2 {
            let mut r = shard(prefixes[i], target, i as u32, &json[i], None);
            r.wait_line(" hold ", Duration::from_secs(60));
            most = most.max(server_reads(server, TOTAL / 2));
            let (code, out, err) = r.finish(Duration::from_secs(60));
            assert_eq!(code, Some(0), "{out}\n{}", err.join("\n"));
            // Torn down before the next one starts.
            assert_eq!(server_reads(server, 0), 0);
        }
    }
    (json, most)
}

/// The trial's case on loopback: two shards of 20 to one `c1m serve`, one
/// after the other, then together.
#[test]
fn shards_merge_only_what_was_held_at_once() {
    let _g = heavy();
    let listen = format!("127.0.0.1:{PORT}");
    let serve = start_serve(&["--listen", &listen, "--max-conns", "1000"]);
    let none: &[&str] = &[];

    // One after the other: each held 10, never 20 at once.
    let (json, most) = two_shards([none, none], none, &listen, "merge-apart", false);
    assert_eq!(most, TOTAL / 2, "ss: the server's most at once");
    let files: Vec<&Path> = json.iter().map(PathBuf::as_path).collect();
    let (out, m) = merge(&files, "merged-apart");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let last = text(&out.stderr)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        last.starts_with("c1m: shard 1/2 began holding ")
            && last.ends_with(
                " s after shard 0/2 stopped: their connections were never held at once; start shards together with --start-at"
            ),
        "{}",
        describe(&out)
    );
    let m = m.expect("the merged report");
    assert_eq!(m["held"]["reached"], most, "{}", describe(&out));
    assert_eq!(m["held"]["at_end"], most, "{}", describe(&out));
    assert_eq!(m["held"]["min_during_hold"], serde_json::Value::Null);
    assert_eq!(m["verdict"]["exit_code"], 1);

    // Together (--start-at): 20 at once, as the server held them.
    let (json, most) = two_shards([none, none], none, &listen, "merge-together", true);
    assert_eq!(most, TOTAL, "ss: the server's most at once");
    let files: Vec<&Path> = json.iter().map(PathBuf::as_path).collect();
    let (out, m) = merge(&files, "merged-together");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let m = m.expect("the merged report");
    assert_eq!(m["held"]["at_end"], most);
    assert_eq!(m["held"]["reached"], most);
    assert_eq!(m["held"]["min_during_hold"], most);
    assert_eq!(m["verdict"]["ok"], true);

    // One run's report twice: refused, one line, exit 2.
    let (out, m) = merge(&[files[0], files[0]], "merged-twice");
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(m.is_none());
    let stripped = |r: &Path, name: &str| {
        // The same report with its shard field gone (as a hand-made copy).
        let mut v = read_json(&r.to_path_buf());
        v["origin"]["shard"] = serde_json::Value::Null;
        let p = report_path(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p
    };
    let copy = stripped(files[0], "merge-copy");
    let (out, _) = merge(&[files[0], &copy], "merged-copy");
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "c1m: {} and {} are one run's report (",
            files[0].display(),
            copy.display()
        )) && err.trim_end().ends_with("): give each shard's report once"),
        "{err}"
    );

    let (code, out, err) = serve.interrupt(Duration::from_secs(30));
    assert_eq!(code, Some(130), "{out}\n{}", err.join("\n"));
}

/// A file with no report in it says so, naming what merge takes.
#[test]
fn a_file_without_a_report_is_named() {
    let dir = report_path("no-report").with_extension("d");
    std::fs::create_dir_all(&dir).unwrap();
    let hello = dir.join("hello.txt");
    std::fs::write(&hello, "hello\nworld\n").unwrap();
    let out = run(&["merge", hello.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_eq!(
        text(&out.stderr).trim_end(),
        format!(
            "c1m: no c1m report found in {} (expected a --json report or a log holding one)",
            hello.display()
        )
    );
    // A JSON document that is not a report keeps its own reason.
    let other = dir.join("other.json");
    std::fs::write(&other, "{\"a\": 1}").unwrap();
    let out = run(&["merge", other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("not a c1m report: no \"schema\" field"),
        "{}",
        describe(&out)
    );
}

/// Two shards in two of the lab's client hosts (network namespaces, one
/// host name: `ip netns exec` keeps the machine's UTS namespace), held
/// together: each namespace's count of the endpoints is its own, so the
/// merged "everyone's" is both, as the server's ss reads. Needs root.
#[test]
fn shards_in_two_namespaces_with_one_host_name_add_up() {
    let Some(_lab) = crate::util::lab::start() else {
        return;
    };
    let up = run(&["lab", "up", "--clients", "2"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up.stderr));
    let layout = c1m::lab::layout().unwrap().expect("the lab is up");
    let server = layout.server.addrs[0];
    let srv_ns = c1m::lab::plan::SERVER_NETNS;
    let in_srv: &[&str] = &["ip", "netns", "exec", srv_ns];
    let target = format!("{server}:{PORT}");
    let bin = env!("CARGO_BIN_EXE_c1m");
    let mut serve = Command::new("ip");
    serve
        .args(["netns", "exec", srv_ns, bin, "serve", "--listen", &target])
        .args(["--max-conns", "1000"])
        .env("C1M_STATE_DIR", state_dir());
    let mut serve = spawn_cmd(serve);
    serve.wait_line(" hold ", Duration::from_secs(30));

    let cli: Vec<String> = layout.clients.iter().map(|c| c.netns.clone()).collect();
    let p0 = ["ip", "netns", "exec", cli[0].as_str()];
    let p1 = ["ip", "netns", "exec", cli[1].as_str()];
    let (json, most) = two_shards([&p0, &p1], in_srv, &target, "merge-netns", true);
    assert_eq!(most, TOTAL, "ss in {srv_ns}");
    let reports: Vec<serde_json::Value> = json.iter().map(read_json).collect();
    assert_eq!(reports[0]["origin"]["host"], reports[1]["origin"]["host"]);
    assert_ne!(reports[0]["origin"]["netns"], reports[1]["origin"]["netns"]);
    let files: Vec<&Path> = json.iter().map(PathBuf::as_path).collect();
    let (out, m) = merge(&files, "merged-netns");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let m = m.expect("the merged report");
    assert_eq!(m["held"]["at_end"], most);
    assert_eq!(m["kernel"]["at_end"]["client_own"], most);
    assert_eq!(
        m["kernel"]["at_end"]["client_side"],
        most,
        "{}",
        describe(&out)
    );

    let _ = serve.interrupt(Duration::from_secs(30));
    let down = run(&["lab", "down"]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down.stderr));
}
