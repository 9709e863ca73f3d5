//! The lab's names and addresses, pure arithmetic: which namespaces, which
//! interfaces, which addresses from 198.18.0.0/15 (RFC 2544, the
//! benchmarking range). No I/O.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The version of the state file `lab up` writes; read back only if equal.
pub const STATE_VERSION: u32 = 1;

/// The namespace that holds the bridge.
pub const BRIDGE_NETNS: &str = "c1m-lab";
/// The bridge joining every host.
pub const BRIDGE: &str = "c1m-br0";
/// The server host's namespace.
pub const SERVER_NETNS: &str = "c1m-srv";
/// Client host namespaces are this followed by 1, 2, ….
pub const CLIENT_NETNS_PREFIX: &str = "c1m-cli";
/// Each host's end of its veth pair.
pub const HOST_IFACE: &str = "c1m-eth0";
/// The bridge's end of a host's veth pair is this followed by the host's
/// short name (`srv`, `cli1`, …).
pub const PORT_PREFIX: &str = "c1m-v-";
/// The lab network: 198.18.0.0/15, every address on-link.
pub const NET: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 0);
/// The lab network's prefix length, bits: the /15 of [`NET`], given to each
/// host's first address.
pub const PREFIX_LEN: u8 = 15;
/// The server's address.
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Usable addresses per /24 (.1 to .254).
const PER_BLOCK: usize = 254;
/// /24 blocks in the /15; block 0 is the server's.
const BLOCKS: usize = 512;

/// One host of the lab: a network namespace with one interface on the
/// bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabHost {
    /// Its network namespace (`/run/netns/NAME`).
    pub netns: String,
    /// Its interface on the lab network.
    pub iface: String,
    /// The bridge's end of its veth pair, in [`BRIDGE_NETNS`].
    pub bridge_port: String,
    /// Its addresses: the first with prefix [`PREFIX_LEN`] (on the lab
    /// network), the others as /32 (reached through the first).
    pub addrs: Vec<IpAddr>,
    /// The /24 blocks its addresses come from, which the server reaches
    /// through its first address (clients only): so the server keeps one
    /// neighbour (ARP) entry per client host, not one per client address
    /// (the kernel's ARP table is shared by every namespace and holds
    /// `gc_thresh3`, 1024 by default, entries in all).
    #[serde(default)]
    pub blocks: Vec<Ipv4Addr>,
    /// Its `net.ipv4.ip_local_port_range` (per namespace), once built.
    #[serde(default)]
    pub local_port_range: Option<(u16, u16)>,
}

/// The whole lab, as built by `lab up` and recorded in its state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// The state file's format version; [`plan`] writes 1.
    pub version: u32,
    /// The namespace holding the bridge.
    pub bridge_netns: String,
    /// The bridge.
    pub bridge: String,
    /// The prefix length of each host's first address (the others are /32).
    pub prefix_len: u8,
    /// The server host: [`SERVER_NETNS`], address [`SERVER_ADDR`], no
    /// blocks.
    pub server: LabHost,
    /// The client hosts, `c1m-cli1` first.
    pub clients: Vec<LabHost>,
}

impl Layout {
    /// Every namespace of the lab, hosts first.
    pub fn namespaces(&self) -> Vec<&str> {
        let mut v: Vec<&str> = std::iter::once(&self.server)
            .chain(&self.clients)
            .map(|h| h.netns.as_str())
            .collect();
        v.push(&self.bridge_netns);
        v
    }

    /// Every host, server first.
    pub fn hosts(&self) -> impl Iterator<Item = &LabHost> {
        std::iter::once(&self.server).chain(&self.clients)
    }
}

/// Why a lab cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    /// Zero client hosts asked for.
    #[error("--clients must be at least 1")]
    NoClients,
    /// Zero addresses per client host asked for.
    #[error("--client-addrs must be at least 1")]
    NoAddrs,
    /// The client hosts' /24 blocks do not fit in the 511 the /15 has
    /// beside the server's.
    #[error(
        "--clients {clients} × --client-addrs {addrs} need {need} /24 blocks of 198.18.0.0/15, \
         which has {have} for clients (each client takes ⌈addresses/254⌉ blocks); \
         use fewer clients or fewer addresses each"
    )]
    TooLarge {
        /// Client hosts asked for.
        clients: usize,
        /// Addresses per client host asked for.
        addrs: usize,
        /// /24 blocks they take: clients × ⌈addrs/254⌉.
        need: usize,
        /// /24 blocks there are for clients: 511.
        have: usize,
    },
}

/// Whether `name` is one of the namespaces a lab makes (what a crashed run
/// may leave behind): `c1m-lab`, `c1m-srv`, `c1m-cli<number>`.
pub fn is_lab_netns(name: &str) -> bool {
    name == BRIDGE_NETNS
        || name == SERVER_NETNS
        || name.strip_prefix(CLIENT_NETNS_PREFIX).is_some_and(|n| {
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0')
        })
}

fn block_addr(block: usize, host: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(
        u32::from(NET) + (block as u32) * 256 + host as u32,
    ))
}

fn host(short: &str, netns: String, addrs: Vec<IpAddr>, blocks: Vec<Ipv4Addr>) -> LabHost {
    LabHost {
        netns,
        iface: HOST_IFACE.to_string(),
        bridge_port: format!("{PORT_PREFIX}{short}"),
        addrs,
        blocks,
        local_port_range: None,
    }
}

/// The lab for `clients` client hosts with `addrs` addresses each: the
/// server is 198.18.0.1; client `i` takes ⌈addrs/254⌉ consecutive /24
/// blocks from 198.18.i.0 on (198.18.1.1…, 198.18.2.1…, … into 198.19.x
/// past 255 blocks), addresses .1 to .254 of each.
pub fn plan(clients: usize, addrs: usize) -> Result<Layout, PlanError> {
    if clients == 0 {
        return Err(PlanError::NoClients);
    }
    if addrs == 0 {
        return Err(PlanError::NoAddrs);
    }
    let per_client = addrs.div_ceil(PER_BLOCK);
    let have = BLOCKS - 1;
    let need = clients.saturating_mul(per_client);
    if need > have {
        return Err(PlanError::TooLarge {
            clients,
            addrs,
            need,
            have,
        });
    }
    let clients = (1..=clients)
        .map(|i| {
            let first = 1 + (i - 1) * per_client;
            let ips = (0..addrs)
                .map(|k| block_addr(first + k / PER_BLOCK, 1 + k % PER_BLOCK))
                .collect();
            let blocks = (first..first + per_client)
                .map(|b| Ipv4Addr::from(u32::from(NET) + (b as u32) * 256))
                .collect();
            host(
                &format!("cli{i}"),
                format!("{CLIENT_NETNS_PREFIX}{i}"),
                ips,
                blocks,
            )
        })
        .collect();
    Ok(Layout {
        version: STATE_VERSION,
        bridge_netns: BRIDGE_NETNS.to_string(),
        bridge: BRIDGE.to_string(),
        prefix_len: PREFIX_LEN,
        server: host(
            "srv",
            SERVER_NETNS.to_string(),
            vec![IpAddr::V4(SERVER_ADDR)],
            Vec::new(),
        ),
        clients,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn small_lab() {
        let l = plan(2, 3).unwrap();
        assert_eq!(l.server.addrs, [ip("198.18.0.1")]);
        assert_eq!(l.server.bridge_port, "c1m-v-srv");
        assert_eq!(l.clients[0].netns, "c1m-cli1");
        assert_eq!(l.clients[1].bridge_port, "c1m-v-cli2");
        assert_eq!(
            l.clients[0].addrs,
            [ip("198.18.1.1"), ip("198.18.1.2"), ip("198.18.1.3")]
        );
        assert_eq!(l.clients[1].addrs[0], ip("198.18.2.1"));
        assert_eq!(
            l.namespaces(),
            ["c1m-srv", "c1m-cli1", "c1m-cli2", "c1m-lab"]
        );
    }

    #[test]
    fn many_addresses_span_blocks_and_skip_0_and_255() {
        let l = plan(2, 300).unwrap();
        let a = &l.clients[0].addrs;
        assert_eq!(a[253], ip("198.18.1.254"));
        assert_eq!(a[254], ip("198.18.2.1"));
        assert_eq!(l.clients[1].addrs[0], ip("198.18.3.1"));
        assert_eq!(
            l.clients[0].blocks,
            [Ipv4Addr::new(198, 18, 1, 0), Ipv4Addr::new(198, 18, 2, 0)]
        );
        // Every client gets the same number of blocks.
        assert_eq!(
            l.clients[1].blocks,
            [Ipv4Addr::new(198, 18, 3, 0), Ipv4Addr::new(198, 18, 4, 0)]
        );
        assert!(l.server.blocks.is_empty());
        let all: std::collections::HashSet<_> = l.hosts().flat_map(|h| &h.addrs).collect();
        assert_eq!(all.len(), 601);
    }

    #[test]
    fn the_whole_range_and_no_more() {
        let l = plan(511, 1).unwrap();
        assert_eq!(l.clients[510].addrs, [ip("198.19.255.1")]);
        assert_eq!(l.clients[255].addrs, [ip("198.19.0.1")]);
        let full = plan(1, 511 * 254).unwrap();
        assert_eq!(*full.clients[0].addrs.last().unwrap(), ip("198.19.255.254"));
        assert!(matches!(
            plan(512, 1),
            Err(PlanError::TooLarge { need: 512, .. })
        ));
        assert!(plan(1, 511 * 254 + 1).is_err());
        assert!(plan(300, 255).is_err());
        assert_eq!(plan(0, 1), Err(PlanError::NoClients));
        assert_eq!(plan(1, 0), Err(PlanError::NoAddrs));
    }

    #[test]
    fn interface_names_fit() {
        let l = plan(511, 1).unwrap();
        for h in l.hosts() {
            assert!(h.bridge_port.len() <= 15, "{}", h.bridge_port);
            assert!(is_lab_netns(&h.netns));
        }
    }

    #[test]
    fn lab_names() {
        for yes in ["c1m-lab", "c1m-srv", "c1m-cli1", "c1m-cli511"] {
            assert!(is_lab_netns(yes), "{yes}");
        }
        for no in [
            "c1m-cli",
            "c1m-cli0",
            "c1m-cli1x",
            "c1m-test-1",
            "c1m-srv2",
            "lab",
        ] {
            assert!(!is_lab_netns(no), "{no}");
        }
    }
}
