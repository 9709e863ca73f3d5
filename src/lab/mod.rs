//! `c1m lab up|down|status`: a small network of network namespaces on this
//! machine, so client fleets run on hosts with their own port space, as
//! separate machines do.
//!
//! ```text
//!  c1m-srv            c1m-lab                    c1m-cli1 … c1m-cliK
//!  c1m-eth0 ══veth══ c1m-v-srv ┐              ┌ c1m-v-cli1 ══veth══ c1m-eth0
//!  198.18.0.1/15              c1m-br0 (bridge)                 198.18.1.1/15 …
//! ```
//!
//! A client host's first address is on the lab network (/15); its other
//! addresses are /32s, and the server reaches each client's /24 blocks
//! through the client's first address, so the server keeps one ARP entry
//! per client host however many addresses it has (the kernel's ARP table
//! is shared by all namespaces: `gc_thresh3`, 1024 by default).
//!
//! **Architecture invariant: nothing of the lab is in the host's
//! namespace.** The bridge lives in its own namespace `c1m-lab`, every
//! veth pair joins a host namespace to it, and the addresses (from
//! 198.18.0.0/15, the benchmarking range) exist only inside: no route, NAT
//! or link leads from the lab to the machine's interfaces, so lab traffic
//! cannot leave the machine.
//!
//! `lab up` records what it builds in [`STATE_FILE`] *before* building, so
//! a run killed halfway is still known; a failure halfway removes what was
//! built. `lab down` deletes the namespaces of the state file and any
//! others with a lab name (`c1m-lab`, `c1m-srv`, `c1m-cli<N>`): deleting a
//! namespace deletes its interfaces and addresses with it.

pub mod plan;
pub mod runns;

use std::fs;
use std::io;
use std::net::IpAddr;
use std::os::fd::AsFd;

use anyhow::{Context, Result, bail};
use c1m_sys::netns;

use crate::ip::rtnl::Rtnl;
pub use plan::{LabHost, Layout, PlanError};

/// Where `lab up` records the lab it built.
pub const STATE_FILE: &str = "/run/c1m-lab.json";

/// The layout as a few lines of text.
pub fn describe(l: &Layout) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  bridge  {} in namespace {} (198.18.0.0/{}, no link to the host)",
        l.bridge, l.bridge_netns, l.prefix_len
    );
    for (role, h) in l
        .hosts()
        .enumerate()
        .map(|(i, h)| (if i == 0 { "server" } else { "client" }, h))
    {
        let addrs = match h.addrs.as_slice() {
            [one] => one.to_string(),
            [first, .., last] => format!("{} addresses {first}…{last}", h.addrs.len()),
            [] => "no address".to_string(),
        };
        let ports = h
            .local_port_range
            .map(|(a, b)| format!(", local ports {a}-{b}"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  {role}  {}: {} {addrs} (bridge port {}){ports}",
            h.netns, h.iface, h.bridge_port
        );
    }
    s
}

/// The lab that is up, from its state file; `None` if none is.
pub fn layout() -> Result<Option<Layout>> {
    match fs::read(STATE_FILE) {
        Ok(bytes) => {
            let layout: Layout = serde_json::from_slice(&bytes).with_context(|| {
                format!("{STATE_FILE} is not a c1m lab state file; `c1m lab down` removes it")
            })?;
            if layout.version != plan::STATE_VERSION {
                bail!(
                    "{STATE_FILE} is a version {} lab state file; this c1m reads version {}: `c1m lab down` removes it",
                    layout.version,
                    plan::STATE_VERSION
                );
            }
            Ok(Some(layout))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {STATE_FILE}")),
    }
}

/// Writes the state file whole: to a temporary file beside it, then
/// linked into place when `create` (failing if a lab is up: link(2) does
/// not replace), renamed over it otherwise; a reader or a crash sees the
/// old file or the new, never part of one.
fn write_state(layout: &Layout, create: bool) -> Result<()> {
    use std::io::Write;
    let json = serde_json::to_vec_pretty(layout)?;
    let tmp = format!("{STATE_FILE}.{}.tmp", std::process::id());
    let written = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()
    })();
    let placed = written.and_then(|()| {
        if create {
            fs::hard_link(&tmp, STATE_FILE)
        } else {
            fs::rename(&tmp, STATE_FILE)
        }
    });
    let _ = fs::remove_file(&tmp);
    placed.map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "a lab is already up ({STATE_FILE} exists); `c1m lab down` removes it first"
            )
        } else {
            anyhow::Error::new(e).context(format!("writing {STATE_FILE}"))
        }
    })
}

/// Namespaces with a lab name present now.
fn lab_named_namespaces() -> Result<Vec<String>> {
    Ok(netns::list()
        .context("listing network namespaces")?
        .into_iter()
        .filter(|n| plan::is_lab_netns(n))
        .collect())
}

/// Builds the lab: `clients` client hosts with `client_addrs` addresses
/// each ([`plan::plan`]). Refuses if a lab is up, or if a namespace it
/// would make exists already (not c1m's to take over or delete); on any
/// failure removes what it built.
pub fn up(clients: usize, client_addrs: usize) -> Result<Layout> {
    up_layout(plan::plan(clients, client_addrs)?)
}

/// Builds the lab `layout` (a [`plan::plan`], possibly adjusted), as
/// [`up`] does, and returns it with what was read while building (each
/// host's local port range).
pub fn up_layout(mut layout: Layout) -> Result<Layout> {
    if let Some(bad) = layout
        .namespaces()
        .into_iter()
        .find(|n| !plan::is_lab_netns(n))
    {
        bail!("{bad:?} is not a lab namespace name (c1m-lab, c1m-srv, c1m-cli<N>)");
    }
    if let Some(old) = layout_or_broken()? {
        let what = match old {
            Some(l) => format!("{} client hosts", l.clients.len()),
            None => "unreadable state".to_string(),
        };
        bail!("a lab is already up ({what} in {STATE_FILE}); `c1m lab down` removes it first");
    }
    let taken: Vec<&str> = layout
        .namespaces()
        .into_iter()
        .filter(|n| netns::exists(n))
        .collect();
    if let Some(first) = taken.first() {
        bail!(
            "network namespace {} exists already and no {STATE_FILE} records it, so it is not c1m's: \
             nothing was built or removed; delete it if it is yours and unused (`ip netns del {first}`), \
             then `c1m lab up` again",
            taken.join(", ")
        );
    }
    write_state(&layout, true)?;
    let mut created = Vec::new();
    match build(&mut layout, &mut created) {
        Ok(()) => {
            write_state(&layout, false)?;
            Ok(layout)
        }
        Err(e) => {
            let cleanup = remove_namespaces(created.iter().map(String::as_str))
                .and_then(|_| fs::remove_file(STATE_FILE).map_err(anyhow::Error::from));
            match cleanup {
                Ok(()) => Err(e.context("building the lab failed; what was built is removed")),
                Err(c) => Err(e.context(format!(
                    "building the lab failed, and removing what was built failed too ({c:#}); \
                     run `c1m lab down`"
                ))),
            }
        }
    }
}

/// Creates namespace `name` for the lab, adding it to `created`; one that
/// appeared since `up` checked is someone else's, and named so.
fn create_netns(name: &str, created: &mut Vec<String>) -> Result<()> {
    match netns::create(name) {
        Ok(()) => {
            created.push(name.to_string());
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(anyhow::anyhow!(
            "network namespace {name} appeared while the lab was being built: someone else's, left alone"
        )),
        Err(e) => Err(e.into()),
    }
}

/// `Some(Some(layout))` if the state file is readable, `Some(None)` if it
/// exists but is not, `None` if there is none.
fn layout_or_broken() -> Result<Option<Option<Layout>>> {
    if !std::path::Path::new(STATE_FILE).exists() {
        return Ok(None);
    }
    Ok(Some(layout().ok().flatten()))
}

/// Builds `layout`, adding each namespace it creates to `created` (for
/// the clean-up of a failure).
fn build(layout: &mut Layout, created: &mut Vec<String>) -> Result<()> {
    let bridge_ns = layout.bridge_netns.clone();
    create_netns(&bridge_ns, created)?;
    let mut lab = netns::run_in(&bridge_ns, Rtnl::open)??;
    bring_up_loopback(&mut lab).with_context(|| format!("in {bridge_ns}"))?;
    lab.add_bridge(&layout.bridge)
        .with_context(|| format!("creating bridge {} in {bridge_ns}", layout.bridge))?;
    let bridge = index_of(&mut lab, &layout.bridge)?;
    lab.set_up(bridge)?;
    let prefix_len = layout.prefix_len;
    for h in std::iter::once(&mut layout.server).chain(layout.clients.iter_mut()) {
        build_host(&mut lab, bridge, h, prefix_len, created)
            .with_context(|| format!("building {}", h.netns))?;
    }
    route_client_blocks(layout).with_context(|| format!("routing in {}", layout.server.netns))
}

/// In the server's namespace, a route per client /24 block through that
/// client's first address.
fn route_client_blocks(layout: &Layout) -> Result<()> {
    let mut nl = netns::run_in(&layout.server.netns, Rtnl::open)??;
    let iface = index_of(&mut nl, &layout.server.iface)?;
    for c in &layout.clients {
        let Some(IpAddr::V4(gw)) = c.addrs.first().copied() else {
            continue;
        };
        for block in &c.blocks {
            nl.add_route_v4(*block, 24, gw, iface)
                .with_context(|| format!("adding route {block}/24 via {gw}"))?;
        }
    }
    Ok(())
}

fn index_of(nl: &mut Rtnl, name: &str) -> Result<u32> {
    nl.link(name)?
        .map(|l| l.index)
        .with_context(|| format!("interface {name} vanished after it was created"))
}

fn bring_up_loopback(nl: &mut Rtnl) -> Result<()> {
    let lo = index_of(nl, "lo")?;
    nl.set_up(lo).context("bringing lo up")?;
    Ok(())
}

fn build_host(
    lab: &mut Rtnl,
    bridge: u32,
    h: &mut LabHost,
    prefix_len: u8,
    created: &mut Vec<String>,
) -> Result<()> {
    create_netns(&h.netns, created)?;
    let ns = netns::open(&h.netns)?;
    lab.add_veth(&h.bridge_port, &h.iface, Some(ns.as_fd()))
        .with_context(|| format!("creating veth {} – {}", h.bridge_port, h.iface))?;
    let port = index_of(lab, &h.bridge_port)?;
    lab.set_controller(port, bridge)
        .with_context(|| format!("adding {} to the bridge", h.bridge_port))?;
    lab.set_up(port)?;
    let (range, nl) = netns::run_in(&h.netns, || {
        (read_port_range(), Rtnl::open().context("opening rtnetlink"))
    })?;
    let mut nl = nl?;
    bring_up_loopback(&mut nl)?;
    let iface = index_of(&mut nl, &h.iface)?;
    for (k, ip) in h.addrs.iter().enumerate() {
        let len = if k == 0 { prefix_len } else { 32 };
        nl.add_address(iface, *ip, len, None, Some(crate::ip::C1M_PROTO))
            .with_context(|| format!("adding {ip}/{len} to {}", h.iface))?;
    }
    nl.set_up(iface)?;
    h.local_port_range = range;
    Ok(())
}

/// `net.ipv4.ip_local_port_range` of the calling thread's namespace.
/// This namespace's `net.ipv4.ip_local_port_range` (read through the
/// doctor's one parser).
fn read_port_range() -> Option<(u16, u16)> {
    let (lo, hi) = c1m_limits::facts::read_port_range(std::path::Path::new("/proc")).get()?;
    Some((u16::try_from(lo).ok()?, u16::try_from(hi).ok()?))
}

fn remove_namespaces<'a>(names: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut failed = Vec::new();
    for n in names {
        match netns::delete(n) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => failed.push(format!("{n}: {e}")),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        bail!("could not remove {}", failed.join("; "))
    }
}

/// What `lab down` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down {
    /// Whether a lab was up (its state file there); when not, nothing
    /// was removed and `down` has nothing to do.
    pub was_up: bool,
    /// The lab's namespaces it deleted.
    pub removed: Vec<String>,
    /// The lab's recorded namespaces that were not there (deleted by
    /// hand, or never built by an `up` that was killed).
    pub gone: Vec<String>,
    /// Namespaces with a lab name that no state file records: not c1m's,
    /// left alone.
    pub left_alone: Vec<String>,
}

/// The namespace names a state file this c1m cannot read records: every
/// string under a `netns` or `bridge_netns` key that is a lab name (a
/// state file of another version still names them so). `None` when it is
/// not JSON at all.
fn recorded_names(bytes: &[u8]) -> Option<Vec<String>> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match v.as_str() {
                        Some(name)
                            if (k == "netns" || k == "bridge_netns")
                                && plan::is_lab_netns(name) =>
                        {
                            out.push(name.to_string());
                        }
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let mut out = Vec::new();
    walk(&value, &mut out);
    out.dedup();
    Some(out)
}

/// Removes the lab: the namespaces its state file records (skipping those
/// deleted by hand already), then the state file. Namespaces no state
/// file records are never touched, whatever their names. With no lab up
/// there is nothing to do ([`Down::was_up`] false): a second `down` is no
/// error. Fails if a namespace could not be deleted (the state file then
/// stays, so `lab down` can run again).
pub fn down() -> Result<Down> {
    let recorded: Option<Vec<String>> = match fs::read(STATE_FILE) {
        Ok(bytes) => Some(match layout() {
            Ok(Some(l)) => l.namespaces().into_iter().map(str::to_string).collect(),
            _ => recorded_names(&bytes).unwrap_or_default(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {STATE_FILE}")),
    };
    let named = lab_named_namespaces()?;
    let mine = recorded.clone().unwrap_or_default();
    let left_alone: Vec<String> = named.into_iter().filter(|n| !mine.contains(n)).collect();
    // Nothing up: nothing to remove, which is what `down` is for
    // (teardown is idempotent).
    let Some(recorded) = recorded else {
        return Ok(Down {
            was_up: false,
            removed: Vec::new(),
            gone: Vec::new(),
            left_alone,
        });
    };
    let (present, gone): (Vec<String>, Vec<String>) =
        recorded.into_iter().partition(|n| netns::exists(n));
    remove_namespaces(present.iter().map(String::as_str))?;
    match fs::remove_file(STATE_FILE) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {STATE_FILE}")),
    }
    Ok(Down {
        was_up: true,
        removed: present,
        gone,
        left_alone,
    })
}

/// Checks that the lab `layout` is whole: every namespace it records
/// exists and holds the lab's interface (the bridge, or the host's end of
/// its veth pair). Fails naming the first that is not, and the fix.
pub fn check(layout: &Layout) -> Result<()> {
    let rebuild = format!(
        "rebuild the lab: `c1m lab down`, then `c1m lab up --clients {} --client-addrs {}`",
        layout.clients.len(),
        layout.clients.first().map_or(1, |c| c.addrs.len())
    );
    let expected = std::iter::once((layout.bridge_netns.as_str(), layout.bridge.as_str()))
        .chain(layout.hosts().map(|h| (h.netns.as_str(), h.iface.as_str())));
    for (ns, iface) in expected {
        if !netns::exists(ns) {
            bail!("the lab's network namespace {ns} is gone (deleted by hand?); {rebuild}");
        }
        let found = netns::run_in(ns, || Rtnl::open().and_then(|mut nl| nl.link(iface)))
            .with_context(|| format!("entering the lab's network namespace {ns}"))?
            .with_context(|| format!("reading the interfaces of {ns}"))?;
        if found.is_none() {
            bail!(
                "the lab's network namespace {ns} has no interface {iface}: it is not the one `c1m lab up` built; {rebuild}"
            );
        }
    }
    Ok(())
}
