//! The second stage of the command line: flags become validated settings
//! and the machine's facts, from which plans and complete worker specs
//! are built. Everything below this layer takes these plain values, never
//! a clap type.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use c1m_limits::{Facts, Role as LimitRole, Target, WORKER_FD_RESERVE};

use super::args::{
    ClientOpts, ClientTlsOpts, ClientWsOpts, FleetOpts, ServerOpts, ServerTlsOpts, TrafficOpts,
};
use crate::plan::{Plan, ServerShare, addr, thousands};
use crate::proxy;
use crate::stages::backoff::Reconnect;
use crate::supervisor::session::Outputs;
use crate::tls::{self, ClientTls, ServerTls, Trust, cert};
use crate::traffic::{self, Mode, Traffic};
use crate::wire::{ClientSpec, CloseMode, ServerSpec};
use crate::ws::{ClientWs, Heartbeat};

/// The kernel facts a plan needs, derived from the doctor's reading.
#[derive(Debug, Clone)]
pub struct Host {
    /// `net.ipv4.ip_local_port_range`.
    pub port_range: (u16, u16),
    /// Ports in the range less the reserved ones.
    pub local_ports: u64,
    /// `net.core.somaxconn`: the default listen backlog.
    pub somaxconn: i32,
    /// RLIMIT_NOFILE hard of this process (what a worker may raise to).
    pub nofile_hard: u64,
}

impl Host {
    /// Derives them from the doctor's reading of the machine, so the
    /// plan and the doctor see the same facts.
    pub fn of(facts: &Facts) -> anyhow::Result<Self> {
        let (lo, hi) = match facts.port_range.get() {
            Some((lo, hi)) if lo <= hi && hi <= 65535 => (lo as u16, hi as u16),
            Some(r) => bail!("net.ipv4.ip_local_port_range is {r:?}, not two ports LOW HIGH"),
            None => bail!("net.ipv4.ip_local_port_range could not be read"),
        };
        let nr_open = facts.nr_open.get().unwrap_or(1 << 20);
        let nofile_hard = c1m_sys::limits::nofile()
            .hard
            .unwrap_or(nr_open)
            .min(nr_open);
        Ok(Self {
            port_range: (lo, hi),
            local_ports: facts.usable_ports().unwrap_or(u64::from(hi - lo) + 1),
            somaxconn: facts.somaxconn.get().unwrap_or(4096).min(i32::MAX as u64) as i32,
            nofile_hard,
        })
    }

    /// Connections one worker may hold, from `--worker-conns` or the limit.
    pub fn worker_conns(&self, asked: Option<u64>) -> anyhow::Result<u64> {
        let most = self.nofile_hard.saturating_sub(WORKER_FD_RESERVE);
        match asked {
            Some(n) if n > most => bail!(
                "--worker-conns {} is more than one process may hold here: RLIMIT_NOFILE hard is {} and a worker keeps {} for itself; use at most {} (c1m fans out over more workers instead)",
                thousands(n),
                thousands(self.nofile_hard),
                WORKER_FD_RESERVE,
                thousands(most)
            ),
            Some(n) => Ok(n.max(1)),
            None if most == 0 => bail!(
                "RLIMIT_NOFILE hard is {}, too low for a worker; raise nofile (c1m tune)",
                self.nofile_hard
            ),
            None => Ok(most),
        }
    }
}

/// The doctor's verdict for a command's count, said only once the
/// command has planned its workers ([`Preflight::say`]): the line states
/// the worker processes it will run, and a count the planner then
/// refuses gets one verdict, not an OK above the refusal (trial 5).
pub struct Preflight {
    /// The connections to run: the count asked, or the default capped
    /// to what fits.
    pub conns: u64,
    verdict: c1m_limits::verdict::Verdict,
    /// The default count, when it was capped to `conns`.
    capped_from: Option<u64>,
}

impl Preflight {
    /// Prints the doctor's line with the planned worker processes (and
    /// the cap, when the default was capped).
    pub fn say(&self, servers: usize, clients: usize) {
        crate::say!(
            "c1m doctor: {}",
            self.verdict.line_planned(servers as u64, clients as u64)
        );
        if let Some(n) = self.capped_from {
            crate::say!(
                "c1m: running {} instead of {}",
                thousands(self.conns),
                thousands(n)
            );
        }
    }
}

/// Checks the machine's limits for `conns` the way `c1m doctor` does.
/// A target given on the command line that does not fit is refused with
/// the doctor's verdict; the default target is capped to what fits.
/// (The 4-tuple space is the planner's to check: it knows the addresses.)
pub fn preflight(
    facts: &Facts,
    conns: Option<u64>,
    default: u64,
    role: LimitRole,
) -> anyhow::Result<Preflight> {
    let n = conns.unwrap_or(default);
    let target = Target::new(n, role);
    let verdict = c1m_limits::verdict::evaluate(facts, &target);
    if verdict.ok() {
        return Ok(Preflight {
            conns: n,
            verdict,
            capped_from: None,
        });
    }
    match conns {
        Some(_) => bail!("{}", verdict.line()),
        None => Ok(Preflight {
            conns: verdict.capped(),
            verdict,
            capped_from: Some(n),
        }),
    }
}

/// Warns about listen ports an outgoing connection could take.
pub fn warn_listen_ports(facts: &Facts, endpoints: &[SocketAddr]) {
    let ports: Vec<u16> = endpoints.iter().map(|e| e.port()).collect();
    if let Some(w) = c1m_limits::ports::listen_ports_warning_for(facts, &ports) {
        crate::say!("c1m: warning: {w}");
    }
}

/// Warns when closing `conns` connections with FIN will overflow the
/// kernel's TIME_WAIT or orphan tables (the closing side keeps them).
pub fn warn_fin_close(facts: &Facts, close: CloseMode, conns: u64) {
    if close == CloseMode::Fin {
        for w in c1m_limits::closing::fin_close_warnings(facts, conns) {
            crate::say!("c1m: warning: {w}");
        }
    }
}

/// Addresses from a flag: list, range or CIDR.
pub fn parse_ips(flag: &str, text: &Option<String>) -> anyhow::Result<Option<Vec<IpAddr>>> {
    text.as_deref()
        .map(|t| addr::parse_ips(t).with_context(|| format!("--{flag}")))
        .transpose()
}

/// Every (address, port) pair.
pub fn endpoints(dests: &[IpAddr], ports: &[u16]) -> Vec<SocketAddr> {
    dests
        .iter()
        .flat_map(|&ip| ports.iter().map(move |&p| SocketAddr::new(ip, p)))
        .collect()
}

/// `--start-at`, checked against the clock now, before anything starts:
/// an error when it is more than [`super::start_at::LATE_GRACE`] past or
/// more than [`super::start_at::MAX_AHEAD`] ahead.
pub fn start_at(at: Option<SystemTime>) -> anyhow::Result<Option<SystemTime>> {
    if let Some(t) = at {
        super::start_at::wait(t, SystemTime::now()).map_err(anyhow::Error::msg)?;
    }
    Ok(at)
}

/// Checks, before anything starts, what the fleet flags name outside
/// c1m: that the report files can be written at the end and that the
/// metrics address is one c1m may serve on. Each error names the flag,
/// the value and the fix.
pub fn check_outputs(f: &FleetOpts) -> anyhow::Result<()> {
    if let Some(p) = &f.json {
        writable("--json", p, true)?;
    }
    if let Some(p) = &f.html {
        writable("--html", p, false)?;
    }
    if let Some(p) = &f.csv {
        writable("--csv", p, false)?;
    }
    if let Some(addr) = f.metrics {
        crate::supervisor::metrics::check_addr(addr, f.metrics_public)?;
    }
    Ok(())
}

/// Checks that a report can be written to `path` at the end (`-`, stdout,
/// when `stdout` allows it): not a directory, and a file that can be
/// opened for writing. An existing file is opened without truncating it
/// (nothing in it changes); one that did not exist is created and removed
/// again. A device, FIFO or socket (`/dev/null`) is taken as it is. A
/// file no one may write (mode 0444, as `/proc` and `/sys` files are) is
/// refused even for root, who could open some of them but never write
/// them.
pub fn writable(flag: &str, path: &Path, stdout: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if stdout && path == Path::new("-") {
        return Ok(());
    }
    if path.as_os_str().is_empty() {
        bail!("{flag} '': empty; name a file");
    }
    let shown = path.display();
    let existed = match std::fs::symlink_metadata(path) {
        Ok(_) => match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => bail!(
                "{flag} {shown}: a directory; name a file in it (e.g. {})",
                path.join("report").display()
            ),
            Ok(m) if !m.is_file() => return Ok(()),
            Ok(m) if m.permissions().mode() & 0o222 == 0 => bail!(
                "{flag} {shown}: read-only (mode {:o}); name another file, or make it writable (chmod u+w)",
                m.permissions().mode() & 0o7777
            ),
            _ => true,
        },
        Err(_) => false,
    };
    match std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        Ok(_) => {
            if !existed {
                let _ = std::fs::remove_file(path);
            }
            Ok(())
        }
        Err(e) => bail!(
            "{flag} {shown}: cannot be written ({e}); name a file in a directory that exists and that you can write"
        ),
    }
}

/// Checks `--proxy-sources` against the destinations `dests`: a PROXY
/// header carries one address family for its source and destination.
pub fn check_proxy(c: &ClientOpts, dests: &[IpAddr]) -> anyhow::Result<()> {
    let (Some(_), Some(text)) = (c.proxy_protocol, &c.proxy_sources) else {
        return Ok(());
    };
    let ips = addr::parse_ips(text).context("--proxy-sources")?;
    let family = |ips: &mut dyn Iterator<Item = IpAddr>| {
        ips.fold((false, false), |(v4, v6), ip| {
            let ip = ip.to_canonical();
            (v4 || ip.is_ipv4(), v6 || ip.is_ipv6())
        })
    };
    let name = |f: (bool, bool)| match f {
        (true, false) => "IPv4",
        (false, true) => "IPv6",
        _ => "IPv4 and IPv6",
    };
    let (src, dst) = (
        family(&mut ips.iter().copied()),
        family(&mut dests.iter().copied()),
    );
    if src != dst && dst != (false, false) {
        let fix = match dst {
            (true, true) => {
                "connect to one family (-4 or -6) and give --proxy-sources of it".to_string()
            }
            d => format!("give {} --proxy-sources", name(d)),
        };
        bail!(
            "--proxy-sources {text}: {} addresses, but the destinations are {}: a PROXY header carries one address family for both; {fix}",
            name(src),
            name(dst)
        );
    }
    Ok(())
}

/// Where the report goes.
pub fn outputs(f: &FleetOpts) -> Outputs {
    Outputs {
        json: f.json.clone(),
        html: f.html.clone(),
        csv: f.csv.clone(),
        metrics: f.metrics,
        metrics_public: f.metrics_public,
    }
}

/// The traffic of `conns` connections from the flags. Any traffic flag
/// means heartbeat mode. Against c1m's own servers (`echoed`) a reply is
/// expected to repeat the message; against others, any reply counts unless
/// --expect says what it must start with.
pub fn traffic(t: &TrafficOpts, conns: u64, echoed: bool) -> anyhow::Result<Traffic> {
    let asked = t.interval.is_some()
        || t.message_rate.is_some()
        || t.bandwidth.is_some()
        || t.message.is_some()
        || t.message_file.is_some()
        || t.expect.is_some();
    let first = match &t.first_message {
        Some(m) => {
            let m = traffic::unescape(m).context("--first-message")?;
            traffic::check_message(&m).context("--first-message")?;
            Some(m)
        }
        None => None,
    };
    if t.mode == Mode::Idle && !asked {
        return Ok(Traffic {
            first,
            ..Traffic::idle()
        });
    }
    let message = match (&t.message, &t.message_file) {
        (Some(m), _) => traffic::unescape(m).context("--message")?,
        (None, Some(f)) => {
            let shown = f.display();
            let m = std::fs::read(f).map_err(|e| {
                anyhow::anyhow!("--message-file {shown}: {e}; name a file you can read")
            })?;
            traffic::check_message(&m).with_context(|| format!("--message-file {shown}"))?;
            m
        }
        (None, None) => traffic::DEFAULT_MESSAGE.to_vec(),
    };
    traffic::check_message(&message).context("--message")?;
    let expect = match &t.expect {
        Some(e) => {
            let e = traffic::unescape(e).context("--expect")?;
            if e.is_empty() || e.len() > u16::MAX as usize {
                bail!("--expect must be 1 to 65,535 bytes (e.g. +PONG\\r\\n)");
            }
            Some(e)
        }
        None if echoed || message == traffic::DEFAULT_MESSAGE => Some(message.clone()),
        None => None,
    };
    let interval = traffic::interval_for(
        conns,
        t.interval,
        t.message_rate,
        t.bandwidth,
        message.len(),
    )
    .with_context(|| match (t.message_rate, t.bandwidth, t.interval) {
        (Some(r), _, _) => format!("--message-rate {r} over {} connections", thousands(conns)),
        (_, Some(b), _) => format!(
            "--bandwidth {b} over {} connections of {}-byte messages",
            thousands(conns),
            message.len()
        ),
        (_, _, Some(i)) => format!("--interval {}", humantime::format_duration(i)),
        _ => "the heartbeat".to_string(),
    })?;
    Ok(Traffic {
        mode: Mode::Heartbeat,
        interval,
        message,
        expect,
        first,
    })
}

/// What c1m's server workers do, as settings.
#[derive(Debug, Clone)]
pub struct Servers {
    /// Echo what peers send.
    pub echo: bool,
    /// Close a peer that sends a longer line.
    pub max_message: u64,
    /// Close a peer owed this many bytes of unread echoes.
    pub max_unsent: u64,
    /// Close a connection silent this long.
    pub idle_timeout: Option<Duration>,
    /// How to close at the end.
    pub close: CloseMode,
    /// The listen backlog.
    pub backlog: i32,
    /// Call accept() (false: leave connections in the accept queue).
    pub accept: bool,
    /// Take a PROXY protocol header of this version off every connection.
    pub proxy: Option<proxy::Version>,
    /// TLS on every connection accepted.
    pub tls: Option<ServerTls>,
    /// WebSocket on every connection accepted.
    pub websocket: bool,
    /// The network namespace the servers run in.
    pub netns: Option<String>,
}

impl Servers {
    /// From the flags, listening with `backlog`.
    pub fn of(s: &ServerOpts, f: &FleetOpts, backlog: i32) -> Self {
        Self {
            echo: !s.no_echo,
            max_message: s.max_message,
            max_unsent: s.max_unsent,
            idle_timeout: s.idle_timeout,
            close: f.close,
            backlog,
            accept: true,
            proxy: None,
            tls: None,
            websocket: false,
            netns: None,
        }
    }

    /// One worker's spec: `listeners`, holding at most `cap`.
    pub fn spec(&self, listeners: Vec<SocketAddr>, reuse_port: bool, cap: u64) -> ServerSpec {
        ServerSpec {
            listeners,
            reuse_port,
            backlog: self.backlog,
            cap,
            shared_cap: None,
            fd_limit: cap + WORKER_FD_RESERVE,
            close: self.close,
            echo: self.echo,
            accept: self.accept,
            max_message: self.max_message,
            max_unsent: self.max_unsent,
            idle_timeout_ms: self.idle_timeout.map(|d| d.as_millis() as u64),
            proxy: self.proxy,
            tls: self.tls.clone(),
            websocket: self.websocket,
            netns: self.netns.clone(),
        }
    }

    /// One worker per planned share, each listening on its endpoints.
    pub fn specs(
        &self,
        shares: &[ServerShare],
        endpoints: &[SocketAddr],
        per_worker: u64,
    ) -> Vec<ServerSpec> {
        shares
            .iter()
            .map(|s| {
                let listeners = s.endpoints.iter().map(|&e| endpoints[e]).collect();
                self.spec(listeners, s.reuse_port, per_worker)
            })
            .collect()
    }
}

/// What c1m's client workers do, as settings.
#[derive(Debug, Clone)]
pub struct Clients {
    /// Connections per second, all workers together.
    pub rate: Option<f64>,
    /// Handshakes in flight, all workers together.
    pub window: u64,
    /// A handshake's deadline.
    pub connect_timeout: Duration,
    /// How to close at the end.
    pub close: CloseMode,
    /// What held connections do.
    pub traffic: Traffic,
    /// `--reconnect`, its rate all workers' together.
    pub reconnect: Option<Reconnect>,
    /// The PROXY protocol header each connection sends first.
    pub proxy: Option<proxy::Send>,
    /// TLS on every connection.
    pub tls: Option<ClientTls>,
    /// WebSocket on every connection.
    pub websocket: Option<ClientWs>,
    /// The network namespace the clients run in.
    pub netns: Option<String>,
}

impl Clients {
    /// From the flags (`--proxy-sources` was parsed by its value parser;
    /// [`check_proxy`] checks it against the destinations).
    pub fn of(c: &ClientOpts, f: &FleetOpts, traffic: Traffic) -> Self {
        Self {
            rate: c.rate,
            window: c.window,
            connect_timeout: c.connect_timeout,
            close: f.close,
            traffic,
            reconnect: None,
            proxy: c.proxy_protocol.map(|version| proxy::Send {
                version,
                sources: c
                    .proxy_sources
                    .as_deref()
                    .and_then(|t| addr::parse_ips(t).ok())
                    .and_then(|ips| proxy::Sources::new(&ips)),
            }),
            tls: None,
            websocket: None,
            netns: None,
        }
    }

    /// One worker's spec per planned client share, the rates and the
    /// window split evenly.
    pub fn specs(&self, plan: &Plan) -> Vec<ClientSpec> {
        let n = plan.clients.len().max(1) as f64;
        plan.clients
            .iter()
            .map(|share| ClientSpec {
                first: share.first,
                count: share.count,
                sources: plan.sources.clone(),
                bind: plan.bind,
                endpoints: plan.endpoints.clone(),
                rate: self.rate.map(|r| r / n),
                window: (self.window as f64 / n).ceil().max(1.0) as u64,
                connect_timeout_ms: self.connect_timeout.as_millis() as u64,
                fd_limit: share.count + WORKER_FD_RESERVE,
                close: self.close,
                traffic: self.traffic.clone(),
                ports: share.ports,
                reconnect: self.reconnect.map(|r| Reconnect {
                    rate: r.rate.map(|v| v / n),
                    ..r
                }),
                proxy: self.proxy.clone(),
                tls: self.tls.clone(),
                websocket: self.websocket.clone().map(Box::new),
                netns: self.netns.clone(),
            })
            .collect()
    }
}

/// `connect --websocket`'s settings: the path, `--header`s, how
/// heartbeats travel, the targets' names by address (each connection's
/// `Host`). A ping carries at most 125 bytes: a longer heartbeat message
/// is refused here, before anything starts. `None` without `--websocket`.
pub fn client_ws(
    o: &ClientWsOpts,
    traffic: &Traffic,
    names: Vec<(IpAddr, String)>,
) -> anyhow::Result<Option<ClientWs>> {
    let Some(path) = &o.websocket else {
        return Ok(None);
    };
    check_ws_traffic(o.ws_heartbeat, traffic)?;
    let mut headers = Vec::new();
    for h in &o.header {
        headers.push(crate::ws::parse_header(h).map_err(|e| anyhow::anyhow!("--header {e}"))?);
    }
    Ok(Some(ClientWs {
        path: path.clone(),
        headers,
        heartbeat: o.ws_heartbeat,
        names,
    }))
}

/// Both fleets' WebSocket for `run` and `lab run`: the clients upgrade
/// `/`, c1m's servers answer any path. `None` without `--websocket`.
pub fn experiment_ws(
    on: bool,
    heartbeat: Heartbeat,
    traffic: &Traffic,
) -> anyhow::Result<Option<ClientWs>> {
    if !on {
        return Ok(None);
    }
    check_ws_traffic(heartbeat, traffic)?;
    Ok(Some(ClientWs {
        path: "/".to_string(),
        headers: Vec::new(),
        heartbeat,
        names: Vec::new(),
    }))
}

/// A ping's payload is at most 125 bytes (RFC 6455 §5.5).
fn check_ws_traffic(heartbeat: Heartbeat, traffic: &Traffic) -> anyhow::Result<()> {
    if heartbeat == Heartbeat::Ping
        && traffic.mode == crate::traffic::Mode::Heartbeat
        && traffic.message.len() > 125
    {
        bail!(
            "--ws-heartbeat ping carries at most 125 bytes (a control frame's payload, RFC 6455 section 5.5); the message is {} bytes: send a shorter --message, or --ws-heartbeat text",
            traffic.message.len()
        );
    }
    Ok(())
}

/// A file a TLS flag names, read whole as text; the error names the flag,
/// the file and the fix.
fn pem_file(flag: &str, path: &Path) -> anyhow::Result<String> {
    let shown = path.display();
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("{flag} {shown}: {e}; name a PEM file you can read"))?;
    String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{flag} {shown}: not text; give a PEM file (-----BEGIN …)"))
}

/// Whom `connect --tls` trusts, its files read and checked now, before
/// anything starts: `--ca FILE`'s certificates, any (`--insecure`), or
/// the system's roots (which must hold at least one). `None` without
/// `--tls`.
pub fn client_trust(o: &ClientTlsOpts) -> anyhow::Result<Option<Trust>> {
    if !o.tls {
        return Ok(None);
    }
    Ok(Some(match (&o.ca, o.insecure) {
        (Some(path), _) => {
            let pem = pem_file("--ca", path)?;
            tls::certs_of(&pem, &format!("--ca {}", path.display()))?;
            Trust::Pem(pem)
        }
        (None, true) => Trust::Any,
        (None, false) => {
            tls::system_roots()?;
            Trust::System
        }
    }))
}

/// `connect --tls`'s settings: whom to trust (see [`client_trust`]), the
/// targets' names by address (each connection's name, for SNI and the
/// certificate), `--sni`, `--alpn`, `--no-resume`.
pub fn client_tls(
    o: &ClientTlsOpts,
    trust: Option<Trust>,
    names: Vec<(IpAddr, String)>,
) -> anyhow::Result<Option<ClientTls>> {
    let Some(trust) = trust else { return Ok(None) };
    let alpn = match &o.alpn {
        Some(a) => tls::parse_alpn(a).map_err(|e| anyhow::anyhow!("--alpn {e}"))?,
        None => Vec::new(),
    };
    Ok(Some(ClientTls {
        trust,
        sni: o.sni.clone(),
        names,
        alpn,
        resume: !o.no_resume,
    }))
}

/// `serve --tls`'s certificate and key: `--cert` and `--key`, read and
/// checked now (that they parse, and that the key is the certificate's),
/// or a self-signed certificate made now for localhost and `listen`.
/// `None` without `--tls`.
pub fn server_tls(o: &ServerTlsOpts, listen: &[IpAddr]) -> anyhow::Result<Option<ServerTls>> {
    if !o.tls {
        return Ok(None);
    }
    let t = match (&o.cert, &o.key) {
        (Some(c), Some(k)) => {
            let (cert_pem, key_pem) = (pem_file("--cert", c)?, pem_file("--key", k)?);
            tls::certs_of(&cert_pem, &format!("--cert {}", c.display()))?;
            tls::key_of(&key_pem, &format!("--key {}", k.display()))?;
            ServerTls {
                about: format!("the certificate of --cert {}", c.display()),
                cert_pem,
                key_pem,
            }
        }
        _ => self_signed(listen)?,
    };
    tls::server_config(&t)?;
    Ok(Some(t))
}

/// A self-signed certificate for servers listening on `listen`, made now.
pub fn self_signed(listen: &[IpAddr]) -> anyhow::Result<ServerTls> {
    cert::self_signed(&cert::names_for(listen)).context("making a self-signed certificate")
}

/// Both fleets' TLS for `run` and `lab run`: the servers present a
/// certificate made now for the plan's server addresses, which is all the
/// clients trust (so they check a real chain and name). `None` without
/// `--tls`.
pub fn experiment_tls(
    tls_on: bool,
    no_resume: bool,
    endpoints: &[SocketAddr],
) -> anyhow::Result<Option<(ServerTls, ClientTls)>> {
    if !tls_on {
        return Ok(None);
    }
    let mut ips: Vec<IpAddr> = endpoints.iter().map(SocketAddr::ip).collect();
    ips.dedup();
    let server = self_signed(&ips)?;
    let client = ClientTls {
        trust: Trust::Pem(server.cert_pem.clone()),
        sni: None,
        names: Vec::new(),
        alpn: Vec::new(),
        resume: !no_resume,
    };
    Ok(Some((server, client)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn report_paths_are_checked_without_changing_them() {
        let d = tempfile::tempdir().unwrap();
        let old = d.path().join("old.json");
        std::fs::write(&old, "kept").unwrap();
        writable("--json", &old, true).unwrap();
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "kept");
        let new = d.path().join("new.json");
        writable("--json", &new, true).unwrap();
        assert!(!new.exists(), "the probe is not left behind");
        writable("--json", Path::new("-"), true).unwrap();
        writable("--json", Path::new("/dev/null"), true).unwrap();
        let e = writable("--json", d.path(), true).unwrap_err().to_string();
        assert!(e.starts_with("--json ") && e.contains("a directory"), "{e}");
        let e = writable("--html", &d.path().join("no/such.html"), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot be written"), "{e}");
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o444)).unwrap();
        let e = writable("--json", &old, true).unwrap_err().to_string();
        assert!(e.contains("read-only (mode 444)"), "{e}");
        assert!(writable("--json", Path::new(""), true).is_err());
    }
}
