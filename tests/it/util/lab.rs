//! For the tests that build `c1m lab`: the lab is machine-wide state, so
//! they run one at a time, as root, from no lab up, and take the lab down
//! whatever happens.

use std::sync::MutexGuard;

use c1m::lab::{self, STATE_FILE};

use super::root::{Root, needs_root};

/// A lab test under way: root, the machine to itself ([`super::heavy`]),
/// no lab up when it began. The lab is taken down when dropped.
pub struct LabTest {
    pub root: Root,
    _heavy: MutexGuard<'static, ()>,
}

impl Drop for LabTest {
    fn drop(&mut self) {
        let _ = lab::down();
        release();
    }
}

/// Where a lab test writes who it is (`PID START`, `START` being field 22
/// of `/proc/PID/stat`, so a reused PID is not taken for it): a lab left
/// up by a test process that no longer runs (killed, the machine's
/// session cut) is the tests' own, and the next test takes it down
/// instead of failing on it. A lab without this file is someone's
/// `c1m lab up` and is never touched.
pub const OWNER_FILE: &str = "/run/c1m-lab.test-owner";

/// Field 22 of `/proc/PID/stat` (the process's start time, in clock
/// ticks since boot), or `None` if no such process runs.
fn started(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name (field 2) is in parentheses and may hold spaces.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the test process named in [`OWNER_FILE`] still runs.
fn owner_alive(owner: &str) -> bool {
    let mut it = owner.split_whitespace().map(str::parse::<u64>);
    match (it.next(), it.next()) {
        (Some(Ok(pid)), Some(Ok(start))) => started(pid as u32) == Some(start),
        _ => true,
    }
}

/// Takes the machine's lab for this test process: with no lab up, or one
/// left by a test process that is gone (taken down first, said on
/// stderr), writes [`OWNER_FILE`] and returns `Ok`. A lab someone else
/// has up is `Err(what is up)`, left alone.
pub fn claim() -> Result<(), String> {
    let up = || (std::path::Path::new(STATE_FILE).exists(), lab_namespaces());
    let (state, left) = up();
    if state || !left.is_empty() {
        let owner = std::fs::read_to_string(OWNER_FILE).ok();
        match owner {
            Some(o) if !owner_alive(&o) => {
                eprintln!(
                    "lab test: taking down the lab a test process left up (`{}` in {OWNER_FILE}, no longer running)",
                    o.trim()
                );
                let _ = lab::down();
                for ns in lab_namespaces() {
                    let _ = std::process::Command::new("ip")
                        .args(["netns", "delete", &ns])
                        .status();
                }
            }
            _ => {}
        }
    }
    let (state, left) = up();
    if state || !left.is_empty() {
        return Err(format!(
            "a c1m lab is up on this machine already ({STATE_FILE} {}, lab namespaces {left:?}), not one a test left",
            if state { "present" } else { "absent" }
        ));
    }
    let me = std::process::id();
    let start = started(me).expect("a process's own /proc/PID/stat is readable");
    std::fs::write(OWNER_FILE, format!("{me} {start}\n"))
        .map_err(|e| format!("cannot write {OWNER_FILE}: {e}"))
}

/// Gives the lab back: removes [`OWNER_FILE`] once the lab is down.
pub fn release() {
    if !std::path::Path::new(STATE_FILE).exists() && lab_namespaces().is_empty() {
        let _ = std::fs::remove_file(OWNER_FILE);
    }
}

/// The lab's network namespaces that exist now (`c1m-lab`, `c1m-srv`,
/// `c1m-cli<N>`), sorted, as iproute2 lists them (`ip netns list`).
pub fn lab_namespaces() -> Vec<String> {
    let mut names: Vec<String> = super::ip_cmd(&["netns", "list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| lab::plan::is_lab_netns(n))
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

/// Starts a lab test (`util::root`'s rule): not root, skipped (`None`);
/// root with a lab already up, or one's namespaces left over, fails
/// naming them and the fix.
#[track_caller]
pub fn start() -> Option<LabTest> {
    let root = needs_root("network namespaces (c1m lab)")?;
    let heavy = super::heavy();
    let claimed = claim();
    root.require(
        claimed.is_ok(),
        format_args!("{}", claimed.err().unwrap_or_default()),
        "`c1m lab down` (if that lab is yours and idle), then run the test again",
    );
    Some(LabTest {
        root,
        _heavy: heavy,
    })
}

/// What the host's namespace looks like: links and addresses, without the
/// counters and states that change by themselves.
pub fn host_view() -> (Vec<String>, String) {
    let links = super::ip_cmd(&["-o", "link"])
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    (links, super::ip_cmd(&["-o", "addr"]))
}
