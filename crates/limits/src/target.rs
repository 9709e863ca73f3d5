//! What the doctor checks for and the planner plans: a number of
//! connections, which ends of them live on this box, and the client side's
//! 4-tuple space when it is fixed.

use serde::Serialize;

/// Descriptors each worker process keeps back for pipes, epoll and the
/// standard streams: a worker holds `RLIMIT_NOFILE − 64` connections.
pub const WORKER_FD_RESERVE: u64 = 64;

/// Which ends of the connections live on this box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Only the accepting end.
    Server,
    /// Only the connecting end.
    Client,
    /// Both ends, over loopback: two sockets per connection.
    Both,
}

impl Role {
    /// Sockets each connection costs on this box.
    pub fn sockets_per_connection(self) -> u64 {
        match self {
            Role::Both => 2,
            Role::Server | Role::Client => 1,
        }
    }

    /// Whether the accepting end is on this box.
    pub fn has_server(self) -> bool {
        matches!(self, Role::Server | Role::Both)
    }

    /// Whether the connecting end is on this box.
    pub fn has_client(self) -> bool {
        matches!(self, Role::Client | Role::Both)
    }
}

/// The 4-tuple space the client side may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tuples {
    /// Source addresses the client binds to.
    pub sources: u64,
    /// Destination addresses.
    pub dest_addrs: u64,
    /// Destination ports per destination address.
    pub dest_ports: u64,
}

/// What to check for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Target {
    /// Connections to hold at once.
    pub conns: u64,
    /// Which ends are on this box.
    pub role: Role,
    /// The tuple space, when fixed; `None` lets `c1m run` plan it.
    pub tuples: Option<Tuples>,
}

impl Target {
    /// A target without a fixed tuple space.
    pub fn new(conns: u64, role: Role) -> Self {
        Target {
            conns,
            role,
            tuples: None,
        }
    }

    /// Sockets on this box: connections × sockets per connection.
    pub fn sockets(&self) -> u64 {
        self.conns
            .saturating_mul(self.role.sockets_per_connection())
    }
}
