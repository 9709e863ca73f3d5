//! What `c1m serve` tolerates of a peer, sans I/O: the rules that close a
//! misbehaving connection, and the 4 bytes of state per connection they
//! need. The epoll glue (`server.rs`) applies them; the unit tests here
//! feed them bytes and numbers, no sockets.
//!
//! The unit is the line: bytes up to and including a newline (`\n`),
//! as c1m's own heartbeat, Redis's `PING\r\n` or an HTTP request line
//! are. A rule looks at what the peer sent, never at how the kernel
//! happened to cut it into reads, so the same bytes meet the same fate.
//!
//! - `--max-message N`: a line longer than N bytes (its newline counted)
//!   closes the peer as soon as N bytes of it came without a newline.
//! - `--idle-timeout T`: a connection that completes no line for T is
//!   closed: a silent peer, one trickling a line a byte at a time
//!   (slowloris), one that vanished (half-open).
//! - `--max-unsent N`: when the kernel takes no more of a peer's echoes,
//!   the server stops reading it (its sends then wait, as TCP intends);
//!   once N bytes or more are owed to it (queued to it and not yet
//!   acknowledged, or received and not yet echoed) it is closed. The
//!   listeners' `TCP_NOTSENT_LOWAT` is N, so the kernel stops taking
//!   echoes once N wait unsent, however large the send buffer (4 MiB on
//!   loopback): a peer that reads nothing is closed after at most N
//!   bytes queued to it plus its own receive window. A peer stalled below
//!   N (a small send buffer filled first) is closed at the idle timeout,
//!   counted as not reading. No byte is dropped on the way: what the
//!   server cannot echo yet stays in the kernel's receive queue.
//! - `--proxy-protocol v1|v2`: a peer's first bytes must be a PROXY
//!   protocol header of that version ([`crate::proxy::parse`] judges
//!   them); it is taken off the stream whole, before any line, and a peer
//!   that sends something else, or stops half-way, is closed. Until the
//!   header is whole the server only peeks: the bytes wait in the
//!   kernel's receive queue, and one bit of [`LineState`] remembers that
//!   the header is still to come.

use crate::cause::Rule;

/// A line longer than `--max-message` came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Oversized;

/// One connection's state under the rules, in 4 bytes: the length of the
/// line under way (bytes since the last newline, saturating at 2^30 − 1),
/// whether the server is blocked on its echoes, and whether the peer's
/// PROXY protocol header is still to come (`--proxy-protocol`: the
/// header is taken off the stream before any line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineState(u32);

const BLOCKED: u32 = 1 << 31;
const HEADER: u32 = 1 << 30;
const RUN_MAX: u32 = HEADER - 1;
const FLAGS: u32 = BLOCKED | HEADER;

impl LineState {
    /// Bytes of the line under way.
    pub fn run(self) -> u32 {
        self.0 & RUN_MAX
    }

    /// The server could not echo all it read: it waits for room before
    /// reading more.
    pub fn blocked(self) -> bool {
        self.0 & BLOCKED != 0
    }

    /// The same, blocked or not.
    pub fn with_blocked(self, blocked: bool) -> Self {
        Self(if blocked {
            self.0 | BLOCKED
        } else {
            self.0 & !BLOCKED
        })
    }

    /// A new connection's state: its PROXY protocol header to come first
    /// when `header` (`--proxy-protocol`).
    pub fn new(header: bool) -> Self {
        Self(if header { HEADER } else { 0 })
    }

    /// The peer's PROXY protocol header has not been taken yet: what it
    /// sends is judged as one ([`crate::proxy::parse`]) before any line.
    pub fn header_pending(self) -> bool {
        self.0 & HEADER != 0
    }

    /// The same once the header was taken.
    pub fn header_taken(self) -> Self {
        Self(self.0 & !HEADER)
    }

    /// The state once `bytes`, the next the peer sent, are taken, and
    /// whether a line ended in them; [`Oversized`] when a line (with what
    /// came before) is longer than `max` bytes, its newline counted, or
    /// `max` bytes came without one (the line can only be longer).
    pub fn after(self, bytes: &[u8], max: u64) -> Result<(LineState, bool), Oversized> {
        let mut run = u64::from(self.run());
        let mut ended = false;
        let mut rest = bytes;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            if run + i as u64 + 1 > max {
                return Err(Oversized);
            }
            run = 0;
            ended = true;
            rest = &rest[i + 1..];
        }
        run += rest.len() as u64;
        if run >= max {
            return Err(Oversized);
        }
        let run = run.min(u64::from(RUN_MAX)) as u32;
        Ok((Self(run | (self.0 & FLAGS)), ended))
    }
}

/// Whether a peer the server is blocked on owes too much: `unacked`
/// bytes queued to it and not acknowledged, `unread` received from it
/// and not yet echoed, against `--max-unsent`.
pub fn owes_too_much(unacked: u64, unread: u64, max_unsent: u64) -> bool {
    unacked.saturating_add(unread) >= max_unsent
}

/// The rule that closes a connection found idle by the sweep: one the
/// server is blocked on did not read its echoes; any other was idle.
pub fn idle_rule(state: LineState) -> Rule {
    if state.blocked() {
        Rule::Unread
    } else {
        Rule::Idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(state: LineState, chunks: &[&[u8]], max: u64) -> Result<(LineState, bool), Oversized> {
        let mut s = state;
        let mut ended = false;
        for c in chunks {
            let (next, e) = s.after(c, max)?;
            s = next;
            ended |= e;
        }
        Ok((s, ended))
    }

    #[test]
    fn a_line_is_judged_by_its_bytes_not_by_how_reads_cut_it() {
        let line = b"0123456789abcde\n"; // 16 bytes, newline counted
        for max in [16u64, 17, 1000] {
            let whole = feed(LineState::default(), &[line], max);
            let bytewise: Vec<&[u8]> = line.chunks(1).collect();
            assert_eq!(whole, feed(LineState::default(), &bytewise, max));
            assert_eq!(whole, Ok((LineState::default(), true)), "max {max}");
        }
        // One byte too long, however it comes.
        assert_eq!(LineState::default().after(line, 15), Err(Oversized));
        let bytewise: Vec<&[u8]> = line.chunks(1).collect();
        assert_eq!(feed(LineState::default(), &bytewise, 15), Err(Oversized));
    }

    #[test]
    fn a_line_without_end_is_closed_once_max_bytes_came() {
        let (s, ended) = LineState::default().after(b"aaaa", 5).unwrap();
        assert_eq!((s.run(), ended), (4, false));
        assert_eq!(s.after(b"a", 5), Err(Oversized), "5 bytes, no newline");
        // Many short lines in one read are each within the limit; a long
        // one among them is not.
        let many = b"ab\ncd\nef\n".repeat(1000);
        assert_eq!(
            LineState::default().after(&many, 3),
            Ok((LineState::default(), true))
        );
        assert_eq!(
            LineState::default().after(b"ab\nlong\nc", 4),
            Err(Oversized)
        );
        // The line under way carries over from the read before.
        let (s, _) = LineState::default().after(b"x\nyy", 4).unwrap();
        assert_eq!(s.run(), 2);
        assert_eq!(s.after(b"z\n", 4), Ok((LineState::default(), true)));
        assert_eq!(s.after(b"zz\n", 4), Err(Oversized));
    }

    #[test]
    fn blocked_is_kept_apart_from_the_line() {
        let s = LineState::default().with_blocked(true);
        assert!(s.blocked());
        let (s, _) = s.after(b"abc", 100).unwrap();
        assert!(s.blocked() && s.run() == 3);
        let s = s.with_blocked(false);
        assert!(!s.blocked() && s.run() == 3);
        assert_eq!(idle_rule(s), Rule::Idle);
        assert_eq!(idle_rule(s.with_blocked(true)), Rule::Unread);
        // A huge limit: the run saturates, never wraps into the flag.
        let big = vec![b'a'; 1 << 20];
        let mut s = LineState(RUN_MAX - 10);
        s = s.after(&big, u64::MAX).unwrap().0;
        assert_eq!((s.run(), s.blocked()), (RUN_MAX, false));
    }

    #[test]
    fn the_header_flag_is_kept_apart_from_the_line_and_blocked() {
        let s = LineState::new(true);
        assert!(s.header_pending() && !s.blocked() && s.run() == 0);
        assert!(!LineState::new(false).header_pending());
        assert_eq!(LineState::new(false), LineState::default());
        let s = s.with_blocked(true).with_blocked(false);
        assert!(s.header_pending());
        let (s, _) = s.after(b"abc", 100).unwrap();
        assert!(s.header_pending() && s.run() == 3);
        let s = s.header_taken();
        assert!(!s.header_pending() && s.run() == 3);
        // The run saturates below the flags.
        let big = vec![b'a'; 1 << 20];
        let mut s = LineState((RUN_MAX - 10) | HEADER);
        s = s.after(&big, u64::MAX).unwrap().0;
        assert_eq!(
            (s.run(), s.header_pending(), s.blocked()),
            (RUN_MAX, true, false)
        );
    }

    #[test]
    fn owing_is_both_queues_against_the_cap() {
        assert!(!owes_too_much(100, 50, 151));
        assert!(owes_too_much(100, 51, 151));
        assert!(owes_too_much(u64::MAX, 1, u64::MAX));
    }
}
