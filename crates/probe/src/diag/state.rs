//! TCP states (`include/net/tcp_states.h`), sets of them, and counts.

use std::collections::BTreeMap;
use std::ops::BitOr;

use serde::ser::{Serialize, SerializeMap, Serializer};

/// A TCP socket state, numbered as the kernel does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    /// `TCP_ESTABLISHED`.
    Established = 1,
    /// `TCP_SYN_SENT`.
    SynSent = 2,
    /// `TCP_SYN_RECV` (also how request sockets are reported).
    SynRecv = 3,
    /// `TCP_FIN_WAIT1`.
    FinWait1 = 4,
    /// `TCP_FIN_WAIT2`.
    FinWait2 = 5,
    /// `TCP_TIME_WAIT`.
    TimeWait = 6,
    /// `TCP_CLOSE`.
    Close = 7,
    /// `TCP_CLOSE_WAIT`.
    CloseWait = 8,
    /// `TCP_LAST_ACK`.
    LastAck = 9,
    /// `TCP_LISTEN`.
    Listen = 10,
    /// `TCP_CLOSING`.
    Closing = 11,
    /// `TCP_NEW_SYN_RECV`: a request socket (a SYN answered, before accept).
    NewSynRecv = 12,
}

impl TcpState {
    /// Every state, in kernel order.
    pub const ALL: [TcpState; 12] = [
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::Closing,
        TcpState::NewSynRecv,
    ];

    /// The state with this kernel number.
    pub fn from_raw(raw: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as u8 == raw)
    }

    /// The name `ss` prints, upper-case with underscores (`TIME_WAIT`).
    pub fn name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait1 => "FIN_WAIT1",
            TcpState::FinWait2 => "FIN_WAIT2",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
            TcpState::NewSynRecv => "NEW_SYN_RECV",
        }
    }
}

/// A set of states: the kernel's `idiag_states` mask, bit `1 << state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StateSet(u32);

impl StateSet {
    /// No state.
    pub const EMPTY: StateSet = StateSet(0);
    /// Every state of [`TcpState::ALL`].
    pub const ALL: StateSet = StateSet(0x1ffe);

    /// Just this state.
    pub const fn only(state: TcpState) -> Self {
        StateSet(1 << state as u32)
    }

    /// This set and `state`.
    pub const fn with(self, state: TcpState) -> Self {
        StateSet(self.0 | 1 << state as u32)
    }

    /// Whether `state` is in the set.
    pub const fn contains(self, state: TcpState) -> bool {
        self.0 & (1 << state as u32) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kernel's mask.
    pub const fn bits(self) -> u32 {
        self.0
    }
}

impl From<TcpState> for StateSet {
    fn from(state: TcpState) -> Self {
        StateSet::only(state)
    }
}

impl BitOr for StateSet {
    type Output = StateSet;
    fn bitor(self, rhs: StateSet) -> StateSet {
        StateSet(self.0 | rhs.0)
    }
}

impl BitOr<TcpState> for StateSet {
    type Output = StateSet;
    fn bitor(self, rhs: TcpState) -> StateSet {
        self.with(rhs)
    }
}

impl BitOr for TcpState {
    type Output = StateSet;
    fn bitor(self, rhs: TcpState) -> StateSet {
        StateSet::only(self).with(rhs)
    }
}

/// Socket counts per state (and per local port, if asked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpCounts {
    /// Indexed by kernel state number; 0 unused.
    by_state: [u64; 13],
    /// Sockets whose state number is none of [`TcpState`].
    other: u64,
    by_local_port: Option<BTreeMap<u16, u64>>,
}

impl TcpCounts {
    /// Zero counts; with a per-local-port map if `per_local_port`.
    pub fn new(per_local_port: bool) -> Self {
        Self {
            by_local_port: per_local_port.then(BTreeMap::new),
            ..Self::default()
        }
    }

    /// Counts one socket.
    pub fn add(&mut self, state: u8, local_port: u16) {
        match self
            .by_state
            .get_mut(usize::from(state))
            .filter(|_| state != 0)
        {
            Some(n) => *n = n.saturating_add(1),
            None => self.other = self.other.saturating_add(1),
        }
        if let Some(ports) = &mut self.by_local_port {
            let n = ports.entry(local_port).or_insert(0);
            *n = n.saturating_add(1);
        }
    }

    /// Sockets in `state`.
    pub fn get(&self, state: TcpState) -> u64 {
        self.by_state.get(state as usize).copied().unwrap_or(0)
    }

    /// Sockets in a state outside [`TcpState`] (none on current kernels).
    pub fn other(&self) -> u64 {
        self.other
    }

    /// All sockets counted.
    pub fn total(&self) -> u64 {
        self.by_state
            .iter()
            .fold(self.other, |s, n| s.saturating_add(*n))
    }

    /// Every state with its count, zeros included, in kernel order.
    pub fn iter(&self) -> impl Iterator<Item = (TcpState, u64)> + '_ {
        TcpState::ALL.into_iter().map(|s| (s, self.get(s)))
    }

    /// Sockets per local port, if the query asked for it.
    pub fn by_local_port(&self) -> Option<&BTreeMap<u16, u64>> {
        self.by_local_port.as_ref()
    }
}

/// As a map: `"total"`, each non-zero state by name, `"other"` if
/// non-zero, and `"by_local_port"` if counted.
impl Serialize for TcpCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("total", &self.total())?;
        for (state, n) in self.iter().filter(|&(_, n)| n != 0) {
            map.serialize_entry(state.name(), &n)?;
        }
        if self.other != 0 {
            map.serialize_entry("other", &self.other)?;
        }
        if let Some(ports) = &self.by_local_port {
            map.serialize_entry("by_local_port", ports)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_match_the_kernel_masks() {
        assert_eq!(StateSet::only(TcpState::Established).bits(), 1 << 1);
        assert_eq!(
            (TcpState::Listen | TcpState::TimeWait).bits(),
            1 << 10 | 1 << 6
        );
        let all = TcpState::ALL
            .into_iter()
            .fold(StateSet::EMPTY, StateSet::with);
        assert_eq!(all, StateSet::ALL);
        assert!(StateSet::ALL.contains(TcpState::NewSynRecv));
        assert!(!StateSet::EMPTY.contains(TcpState::Close));
        for s in TcpState::ALL {
            assert_eq!(TcpState::from_raw(s as u8), Some(s));
        }
        assert_eq!(TcpState::from_raw(0), None);
        assert_eq!(TcpState::from_raw(13), None);
    }

    #[test]
    fn counts() {
        let mut c = TcpCounts::new(true);
        c.add(1, 80);
        c.add(1, 80);
        c.add(6, 81);
        c.add(0, 1);
        c.add(200, 1);
        assert_eq!(c.get(TcpState::Established), 2);
        assert_eq!(c.get(TcpState::TimeWait), 1);
        assert_eq!((c.other(), c.total()), (2, 5));
        let ports: Vec<(u16, u64)> = c
            .by_local_port()
            .unwrap()
            .iter()
            .map(|(&p, &n)| (p, n))
            .collect();
        assert_eq!(ports, [(1, 2), (80, 2), (81, 1)]);
        assert_eq!(TcpCounts::new(false).by_local_port(), None);
    }
}
