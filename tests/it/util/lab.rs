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
    let left = lab_namespaces();
    let state = std::path::Path::new(STATE_FILE).exists();
    root.require(
        !state && left.is_empty(),
        format_args!(
            "a c1m lab is up on this machine already ({STATE_FILE} {}, lab namespaces {left:?})",
            if state { "present" } else { "absent" }
        ),
        "`c1m lab down` (if that lab is yours and idle), then run the test again",
    );
    Some(LabTest {
        root,
        _heavy: heavy,
    })
}
