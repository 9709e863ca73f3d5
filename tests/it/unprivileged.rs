//! c1m as an unprivileged pod runs it: not root, so `/proc/slabinfo` is
//! unreadable. The report says why there are no slab rows and keeps
//! every other figure; what it holds is checked against the kernel's
//! table joined with the process's own socket inodes.
//!
//! Address: 127.0.9.61:18161.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use crate::util::outcome::Outcome;
use crate::util::root::needs_root;
use crate::util::truth;
use crate::util::*;

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn without_root_a_report_names_the_missing_slab_rows_and_keeps_the_rest() {
    // Root is needed to become nobody.
    let Some(_root) = needs_root("setpriv to an unprivileged user") else {
        return;
    };
    let _g = heavy();
    let addr: SocketAddr = "127.0.9.61:18161".parse().unwrap();
    let mut serve = spawn(&["serve", "--listen", "127.0.9.61:18161", "--hold", "120s"]);
    wait_listening_on(addr, Duration::from_secs(30));

    // A copy of c1m and a directory nobody can use (a pod's own files).
    let dir = std::env::temp_dir().join(format!("c1m-nobody-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let copy = dir.join("c1m");
    std::fs::copy(env!("CARGO_BIN_EXE_c1m"), &copy).unwrap();
    for (p, mode) in [(&dir, 0o777), (&dir.join("state"), 0o777), (&copy, 0o755)] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let json = dir.join("report.json");
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&copy)
        .args(["connect", "127.0.9.61:18161", "-n", "2000", "--hold", "4s"])
        .arg("--json")
        .arg(&json)
        .env("C1M_STATE_DIR", dir.join("state"));
    let mut c = spawn_cmd(cmd);
    c.wait_line(" hold ", LIMIT);
    let pids = truth::process_tree(c.pid());
    let held = truth::client_established_of(&pids, addr);
    let mut o = Outcome::of_finished(c.finish(LIMIT), &json);
    serve.child.kill().unwrap();
    o.note_truth(("held by nobody's c1m, from /proc", held));

    assert_eq!(held, 2000, "{}", o.context());
    assert_eq!(o.code, Some(0), "{}", o.context());
    assert_eq!(o.get("held.at_end"), 2000, "{}", o.context());
    assert_eq!(o.get("held.source"), "kernel", "{}", o.context());
    // The slab rows: absent, and why.
    let why = o.get("memory.slab_unreadable").as_str().unwrap_or_default();
    assert!(why.contains("needs root"), "{why:?}{}", o.context());
    assert!(
        o.get("memory.slab_caches")
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{}",
        o.context()
    );
    assert!(o.stdout.contains("needs root"), "{}", o.context());
    // What needs no privilege is all there: /proc/meminfo, the kernel's
    // count, the workers' memory.
    assert!(o.get("memory.meminfo_slab").is_i64(), "{}", o.context());
    assert_eq!(o.get("kernel.at_end.status"), "counted", "{}", o.context());
    assert_eq!(o.get("kernel.at_end.client_own"), 2000, "{}", o.context());
    assert!(o.get("memory.clients.rss").is_i64(), "{}", o.context());
    assert!(
        o.get("memory.mem_available_drop").is_i64(),
        "{}",
        o.context()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
