//! The inet_diag filter bytecode (`INET_DIAG_REQ_BYTECODE`) for port ranges,
//! so the kernel skips sockets outside them instead of sending them.
//!
//! A program is a list of `struct inet_diag_bc_op { u8 code; u8 yes; u16
//! no; }`; a port comparison takes two ops, the second carrying the port
//! (host order) in `no`. The kernel runs it from the start: on a true
//! condition it moves forward `yes` bytes, on a false one `no` bytes; the
//! socket is accepted if the run ends exactly at the end of the program,
//! rejected if it jumps 4 bytes past it. `JMP` is always false, so its
//! `no` is an unconditional jump. The kernel's audit
//! (`inet_diag_bc_audit()`, net/ipv4/inet_diag.c) requires every `no`
//! target to be reachable from the start by following `yes` jumps.
//!
//! We build a disjunction of conjunctions: each group's comparisons jump
//! to the next group when false; a group that passes ends in a `JMP` to
//! accept (the last group falls through to the end instead); a false
//! comparison in the last group rejects.

use std::ops::RangeInclusive;

/// `INET_DIAG_REQ_BYTECODE`, the request attribute carrying the program.
pub(crate) const INET_DIAG_REQ_BYTECODE: u16 = 1;

const BC_JMP: u8 = 1;
const BC_S_GE: u8 = 2;
const BC_S_LE: u8 = 3;
const BC_D_GE: u8 = 4;
const BC_D_LE: u8 = 5;

/// Bytes of one port comparison (two ops) and of a `JMP`.
const CMP_LEN: usize = 8;
const JMP_LEN: usize = 4;

/// A port condition: which side of the socket, which ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortCond {
    /// The local (source) port is in the range.
    Local(RangeInclusive<u16>),
    /// The remote (destination) port is in the range.
    Remote(RangeInclusive<u16>),
}

impl PortCond {
    /// The comparisons that test this condition (none if always true).
    fn comparisons(&self) -> Vec<(u8, u16)> {
        let (ge, le, range) = match self {
            PortCond::Local(r) => (BC_S_GE, BC_S_LE, r),
            PortCond::Remote(r) => (BC_D_GE, BC_D_LE, r),
        };
        let (lo, hi) = (*range.start(), *range.end());
        let mut out = Vec::with_capacity(2);
        if lo > 0 {
            out.push((ge, lo));
        }
        if hi < u16::MAX {
            out.push((le, hi));
        }
        out
    }
}

/// The program accepting a socket if, for any group, all of the group's
/// conditions hold. `None` if that is every socket (no filter needed).
pub(crate) fn any_of_all(groups: &[Vec<PortCond>]) -> Option<Vec<u8>> {
    let groups: Vec<Vec<(u8, u16)>> = groups
        .iter()
        .map(|g| g.iter().flat_map(PortCond::comparisons).collect())
        .collect();
    if groups.is_empty() || groups.iter().any(Vec::is_empty) {
        return None;
    }
    let len: usize =
        groups.iter().map(|g| g.len() * CMP_LEN).sum::<usize>() + (groups.len() - 1) * JMP_LEN;
    let mut out = Vec::with_capacity(len);
    let last = groups.len() - 1;
    for (i, group) in groups.iter().enumerate() {
        let next_group = out.len() + group.len() * CMP_LEN + JMP_LEN;
        for &(code, port) in group {
            let here = out.len();
            let target = if i == last { len + 4 } else { next_group };
            push_op(&mut out, code, CMP_LEN, target - here);
            push_op(&mut out, 0, 0, usize::from(port));
        }
        if i != last {
            let here = out.len();
            push_op(&mut out, BC_JMP, JMP_LEN, len - here);
        }
    }
    Some(out)
}

fn push_op(out: &mut Vec<u8>, code: u8, yes: usize, no: usize) {
    out.push(code);
    out.push(u8::try_from(yes).unwrap_or(u8::MAX));
    out.extend_from_slice(&u16::try_from(no).unwrap_or(u16::MAX).to_ne_bytes());
}

/// Runs a program as the kernel does (`inet_diag_bc_run()`), for tests.
#[cfg(test)]
pub(crate) fn run(bc: &[u8], sport: u16, dport: u16) -> bool {
    let mut pos: i64 = 0;
    let len = bc.len() as i64;
    while pos < len {
        let at = |i: i64| bc[i as usize];
        let code = at(pos);
        let yes_len = i64::from(at(pos + 1));
        let no_len = i64::from(u16::from_ne_bytes([at(pos + 2), at(pos + 3)]));
        let port = || u16::from_ne_bytes([at(pos + 6), at(pos + 7)]);
        let yes = match code {
            BC_JMP => false,
            BC_S_GE => sport >= port(),
            BC_S_LE => sport <= port(),
            BC_D_GE => dport >= port(),
            BC_D_LE => dport <= port(),
            _ => panic!("unknown op {code}"),
        };
        pos += if yes { yes_len } else { no_len };
    }
    pos == len
}

/// Checks a program as the kernel's `inet_diag_bc_audit()` does, for tests.
#[cfg(test)]
pub(crate) fn audit(bc: &[u8]) -> bool {
    let op = |i: usize| {
        (
            bc[i],
            usize::from(bc[i + 1]),
            usize::from(u16::from_ne_bytes([bc[i + 2], bc[i + 3]])),
        )
    };
    let valid_cc = |target_len: usize| {
        let mut len = bc.len() as i64;
        let mut pos = 0;
        while len >= 0 {
            if target_len as i64 > len {
                return false;
            }
            if target_len as i64 == len {
                return true;
            }
            let (_, yes, _) = op(pos);
            if yes < 4 || yes % 4 != 0 {
                return false;
            }
            len -= yes as i64;
            pos += yes;
        }
        false
    };
    let mut pos = 0;
    while pos < bc.len() {
        let len = bc.len() - pos;
        let (code, yes, no) = op(pos);
        let min_len = if code == BC_JMP { 4 } else { 8 };
        if no < min_len || no > len + 4 || no % 4 != 0 || (no < len && !valid_cc(len - no)) {
            return false;
        }
        if yes < min_len || yes > len + 4 || yes % 4 != 0 {
            return false;
        }
        pos += yes;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use PortCond::{Local, Remote};

    const PORTS: [u16; 9] = [0, 1, 79, 80, 81, 8000, 8080, 8081, 65535];

    fn check(groups: &[Vec<PortCond>], expect: impl Fn(u16, u16) -> bool) {
        let bc = any_of_all(groups).expect("a program");
        assert!(audit(&bc), "{groups:?}: audit fails: {bc:?}");
        for s in PORTS {
            for d in PORTS {
                assert_eq!(
                    run(&bc, s, d),
                    expect(s, d),
                    "{groups:?} sport {s} dport {d}"
                );
            }
        }
    }

    #[test]
    fn single_ranges() {
        check(&[vec![Local(80..=80)]], |s, _| s == 80);
        check(&[vec![Remote(80..=8080)]], |_, d| (80..=8080).contains(&d));
        check(&[vec![Local(81..=65535)]], |s, _| s >= 81);
        check(&[vec![Remote(0..=80)]], |_, d| d <= 80);
        // An empty range matches nothing.
        let (lo, hi) = (81, 80);
        check(&[vec![Local(lo..=hi)]], |_, _| false);
    }

    #[test]
    fn conjunction_and_disjunction() {
        check(&[vec![Local(80..=80), Remote(8000..=8081)]], |s, d| {
            s == 80 && (8000..=8081).contains(&d)
        });
        check(&[vec![Local(80..=80)], vec![Remote(80..=80)]], |s, d| {
            s == 80 || d == 80
        });
        check(
            &[
                vec![Local(1..=79), Remote(8080..=8080)],
                vec![Remote(0..=1)],
                vec![Local(65535..=65535)],
            ],
            |s, d| ((1..=79).contains(&s) && d == 8080) || d <= 1 || s == 65535,
        );
    }

    #[test]
    fn always_true_needs_no_program() {
        assert_eq!(any_of_all(&[]), None);
        assert_eq!(any_of_all(&[vec![Local(0..=65535)]]), None);
        assert_eq!(any_of_all(&[vec![Local(80..=80)], vec![]]), None);
    }
}
