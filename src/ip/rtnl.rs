//! A small synchronous rtnetlink client: links and addresses of the network
//! namespace the socket was opened in. See rtnetlink(7), netlink(7).
//!
//! The socket belongs, for its whole life, to the namespace of the thread
//! that opened it: open it inside `c1m_sys::netns::run_in` to work on
//! another namespace.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::BorrowedFd;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressHeaderFlags, AddressMessage, AddressProtocol,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

const RECV_LEN: usize = 64 << 10;

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Its interface index (`ifi_index`), unique in the namespace.
    pub index: u32,
    /// Its name (`IFLA_IFNAME`), e.g. `eth0`; empty if the kernel sent none.
    pub name: String,
    /// Administratively up (`IFF_UP`), whether or not it has a carrier.
    pub up: bool,
    /// The index of the bridge it is a port of, if any.
    pub controller: Option<u32>,
}

/// One address on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    /// Index of the interface that has it.
    pub index: u32,
    /// The address itself (`IFA_LOCAL`, else `IFA_ADDRESS`).
    pub ip: IpAddr,
    /// Its prefix length in bits (`ifa_prefixlen`): 32 or 128 for a lone
    /// address.
    pub prefix_len: u8,
    /// `IFA_LABEL` (IPv4 only).
    pub label: Option<String>,
    /// `IFA_PROTO`: who added it (0 unknown, 1-3 the kernel, others user
    /// space by convention).
    pub proto: Option<u8>,
}

/// A NETLINK_ROUTE socket and its receive buffer.
///
/// Every request fails with the errno of the kernel's `NLMSG_ERROR` reply
/// (EPERM for a change without CAP_NET_ADMIN, EEXIST, ENODEV, …), an I/O
/// error of the socket, or `InvalidData` for a reply that does not parse.
pub struct Rtnl {
    socket: Socket,
    buf: Vec<u8>,
    seq: u32,
}

fn proto_byte(p: &AddressProtocol) -> u8 {
    match p {
        AddressProtocol::Loopback => 1,
        AddressProtocol::RouterAnnouncement => 2,
        AddressProtocol::LinkLocal => 3,
        AddressProtocol::Other(b) => *b,
        _ => 0,
    }
}

fn family(ip: IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

impl Rtnl {
    /// Opens a NETLINK_ROUTE socket in the calling thread's namespace.
    pub fn open() -> io::Result<Self> {
        let socket = Socket::new(NETLINK_ROUTE).map_err(|e| {
            io::Error::new(e.kind(), format!("opening a NETLINK_ROUTE socket: {e}"))
        })?;
        Ok(Self {
            socket,
            buf: Vec::with_capacity(RECV_LEN),
            seq: 0,
        })
    }

    /// Sends one request and collects the replies: every message of a dump
    /// (`NLM_F_DUMP`), or nothing for an acknowledged change.
    fn request(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);
        self.socket.send_to(&out, &SocketAddr::new(0, 0), 0)?;
        let mut replies = Vec::new();
        loop {
            self.buf.clear();
            match self.socket.recv(&mut self.buf, 0) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(_) => {}
            }
            let mut off = 0;
            while off < self.buf.len() {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[off..])
                    .map_err(|e| {
                        io::Error::new(io::ErrorKind::InvalidData, format!("rtnetlink: {e}"))
                    })?;
                let len = msg.header.length as usize;
                off += len.next_multiple_of(4).max(16);
                if msg.header.sequence_number != seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(replies),
                            Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                        };
                    }
                    NetlinkPayload::InnerMessage(m) => replies.push(m),
                    _ => {}
                }
            }
        }
    }

    fn change(&mut self, message: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.request(message, NLM_F_ACK | flags).map(|_| ())
    }

    /// Every interface of the namespace.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let replies = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        let mut out = Vec::new();
        for r in replies {
            let RouteNetlinkMessage::NewLink(m) = r else {
                continue;
            };
            let mut name = String::new();
            let mut controller = None;
            for a in &m.attributes {
                match a {
                    LinkAttribute::IfName(n) => name = n.clone(),
                    LinkAttribute::Controller(c) => controller = Some(*c),
                    _ => {}
                }
            }
            out.push(Link {
                index: m.header.index,
                name,
                up: m.header.flags.contains(LinkFlags::Up),
                controller,
            });
        }
        Ok(out)
    }

    /// The interface named `name`, if there is one.
    pub fn link(&mut self, name: &str) -> io::Result<Option<Link>> {
        Ok(self.links()?.into_iter().find(|l| l.name == name))
    }

    /// Every address of the namespace, IPv4 and IPv6.
    pub fn addresses(&mut self) -> io::Result<Vec<Addr>> {
        let replies = self.request(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            NLM_F_DUMP,
        )?;
        let mut out = Vec::new();
        for r in replies {
            let RouteNetlinkMessage::NewAddress(m) = r else {
                continue;
            };
            let (mut local, mut address, mut label, mut proto) = (None, None, None, None);
            for a in &m.attributes {
                match a {
                    AddressAttribute::Local(ip) => local = Some(*ip),
                    AddressAttribute::Address(ip) => address = Some(*ip),
                    AddressAttribute::Label(l) => label = Some(l.clone()),
                    AddressAttribute::Protocol(p) => proto = Some(proto_byte(p)),
                    _ => {}
                }
            }
            if let Some(ip) = local.or(address) {
                out.push(Addr {
                    index: m.header.index,
                    ip,
                    prefix_len: m.header.prefix_len,
                    label,
                    proto,
                });
            }
        }
        Ok(out)
    }

    fn address_message(index: u32, ip: IpAddr, prefix_len: u8) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = family(ip);
        m.header.prefix_len = prefix_len;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(ip));
        if ip.is_ipv4() {
            m.attributes.push(AddressAttribute::Address(ip));
        } else {
            // No duplicate address detection: the address is usable (can be
            // bound) at once instead of after a second or so "tentative".
            m.header.flags = AddressHeaderFlags::Nodad;
        }
        m
    }

    /// Adds `ip/prefix_len` to interface `index`, with an `IFA_LABEL`
    /// (IPv4 only; at most 15 bytes) and an `IFA_PROTO` mark if given.
    /// Fails with `AlreadyExists` (EEXIST) if the interface has it already.
    pub fn add_address(
        &mut self,
        index: u32,
        ip: IpAddr,
        prefix_len: u8,
        label: Option<&str>,
        proto: Option<u8>,
    ) -> io::Result<()> {
        let mut m = Self::address_message(index, ip, prefix_len);
        if let (Some(l), true) = (label, ip.is_ipv4()) {
            m.attributes.push(AddressAttribute::Label(l.to_string()));
        }
        if let Some(p) = proto {
            m.attributes
                .push(AddressAttribute::Protocol(AddressProtocol::from(p)));
        }
        self.change(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Removes `ip/prefix_len` from interface `index`.
    pub fn del_address(&mut self, index: u32, ip: IpAddr, prefix_len: u8) -> io::Result<()> {
        let m = Self::address_message(index, ip, prefix_len);
        self.change(RouteNetlinkMessage::DelAddress(m), 0)
    }

    fn set_link(&mut self, index: u32, f: impl FnOnce(&mut LinkMessage)) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        f(&mut m);
        self.change(RouteNetlinkMessage::SetLink(m), 0)
    }

    /// Brings interface `index` up.
    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        self.set_link(index, |m| {
            m.header.flags = LinkFlags::Up;
            m.header.change_mask = LinkFlags::Up;
        })
    }

    /// Makes interface `index` a port of the bridge `bridge`.
    pub fn set_controller(&mut self, index: u32, bridge: u32) -> io::Result<()> {
        self.set_link(index, |m| {
            m.attributes.push(LinkAttribute::Controller(bridge));
        })
    }

    fn new_link(&mut self, m: LinkMessage) -> io::Result<()> {
        self.change(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// Creates an interface of kind `kind` (a bridge, a dummy where the
    /// kernel has the module) named `name`, down.
    pub fn add_link(&mut self, name: &str, kind: InfoKind) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(kind)]));
        self.new_link(m)
    }

    /// Creates a bridge named `name`, down.
    pub fn add_bridge(&mut self, name: &str) -> io::Result<()> {
        self.add_link(name, InfoKind::Bridge)
    }

    /// Creates a veth pair: `name` here, `peer` in the namespace `peer_ns`
    /// (a descriptor from `c1m_sys::netns::open`) or here too, both down.
    pub fn add_veth(
        &mut self,
        name: &str,
        peer: &str,
        peer_ns: Option<BorrowedFd<'_>>,
    ) -> io::Result<()> {
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.to_string()));
        if let Some(ns) = peer_ns {
            p.attributes
                .push(LinkAttribute::NetNsFd(c1m_sys::netns::netlink_fd(ns)));
        }
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.new_link(m)
    }

    /// Adds the IPv4 route `dst/prefix_len via gateway dev oif onlink`
    /// (the gateway is taken as on the interface's link, whatever other
    /// routes say) to the main table.
    pub fn add_route_v4(
        &mut self,
        dst: Ipv4Addr,
        prefix_len: u8,
        gateway: Ipv4Addr,
        oif: u32,
    ) -> io::Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.destination_prefix_length = prefix_len;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Static;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.header.flags = RouteFlags::Onlink;
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(dst)));
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        m.attributes.push(RouteAttribute::Oif(oif));
        self.change(RouteNetlinkMessage::NewRoute(m), NLM_F_CREATE | NLM_F_EXCL)
    }
}
