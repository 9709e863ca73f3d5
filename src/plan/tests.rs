use super::*;
use std::net::Ipv4Addr;

fn eps(n: usize, port: u16) -> Vec<SocketAddr> {
    addr::consecutive(Ipv4Addr::new(127, 0, 1, 1), n)
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect()
}

fn req(conns: u64) -> Request {
    Request {
        conns,
        sources: vec![],
        bind: BindMode::NoPort,
        endpoints: eps(1, 8090),
        local_ports: 28_232,
        port_range: (32768, 60999),
        pair_budget: 14_116,
        client_per_worker: 19_936,
        server_per_worker: Some(19_936),
        force: false,
    }
}

#[test]
fn thousands_separators() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1000), "1,000");
    assert_eq!(thousands(1_000_000), "1,000,000");
    assert_eq!(thousands(28_232), "28,232");
}

#[test]
fn refuses_nothing_and_nowhere() {
    assert_eq!(plan(&req(0)).unwrap_err(), PlanError::Zero);
    let mut r = req(10);
    r.endpoints.clear();
    assert_eq!(plan(&r).unwrap_err(), PlanError::NoEndpoints);
}

#[test]
fn many_ports_from_one_ip_is_capped_by_the_port_range() {
    let mut r = req(1_000_000);
    r.endpoints = (8090..=8119)
        .map(|p| SocketAddr::new("127.0.0.1".parse().unwrap(), p))
        .collect();
    let err = plan(&r).unwrap_err().to_string();
    assert!(err.contains("1,000,000 connections do not fit"), "{err}");
    assert!(err.contains("holds 846,960"), "{err}");
    assert!(
        err.contains("1 source address (the kernel's choice) × 30 destinations × 28,232 local ports (32768-60999)"),
        "{err}"
    );
    assert!(
        err.contains("ip_local_port_range=\"1024 65535\" (holds 1,935,360)"),
        "{err}"
    );
    // With the seed's wide port range it fits, but each pair is over the budget.
    r.local_ports = 64_512;
    r.port_range = (1024, 65535);
    r.pair_budget = 32_256;
    let p = plan(&r).unwrap();
    assert_eq!(p.per_pair_max, 33_334);
    assert_eq!(p.warnings.len(), 1);
    // 30 ports at 33,334 each: every port needs a reuseport group of two.
    assert_eq!(p.servers.len(), 60);
    assert!(
        p.servers
            .iter()
            .all(|s| s.reuse_port && s.endpoints.len() == 1)
    );
    assert_eq!(p.servers.iter().map(|s| s.expected).sum::<u64>(), 1_000_000);
}

#[test]
fn plain_bind_caps_a_source_at_the_port_range() {
    let mut r = req(30_000);
    r.sources = vec!["127.0.2.1".parse().unwrap()];
    r.endpoints = eps(4, 8090);
    r.bind = BindMode::Plain;
    let err = plan(&r).unwrap_err().to_string();
    assert!(err.contains("holds 28,232"), "{err}");
    assert!(err.contains("--bind-mode no-port"), "{err}");
    r.bind = BindMode::NoPort;
    assert_eq!(plan(&r).unwrap().capacity, 4 * 28_232);
}

#[test]
fn many_ips_share_one_port_through_a_reuseport_group() {
    let mut r = req(1_000_000);
    r.sources = addr::consecutive(Ipv4Addr::new(127, 0, 2, 1), 71);
    let p = plan(&r).unwrap();
    assert!(p.warnings.is_empty());
    assert_eq!(p.pairs, 71);
    assert!(p.per_pair_max <= 14_116);
    // 1M over workers filled to 85% of 19,936.
    assert_eq!(p.servers.len(), 60);
    assert!(
        p.servers
            .iter()
            .all(|s| s.reuse_port && s.endpoints == vec![0])
    );
    assert_eq!(p.servers.iter().map(|s| s.expected).sum::<u64>(), 1_000_000);
    assert_eq!(p.clients.len(), 51);
}

#[test]
fn loopback_spread_gives_each_server_whole_endpoints() {
    let n = loopback_endpoints(1_000_000, 1, 19_936, 14_116);
    assert_eq!(n, 102); // 51 workers × 2 endpoints of ~9,804
    let mut r = req(1_000_000);
    r.endpoints = eps(n as usize, 8090);
    let p = plan(&r).unwrap();
    assert_eq!(p.servers.len(), 51);
    assert!(
        p.servers
            .iter()
            .all(|s| !s.reuse_port && s.endpoints.len() == 2)
    );
    assert!(p.servers.iter().all(|s| s.expected <= 19_936));
    assert_eq!(p.servers.iter().map(|s| s.expected).sum::<u64>(), 1_000_000);
    assert!(p.per_pair_max <= 14_116);
    assert!(p.warnings.is_empty());
    // Small runs need one endpoint and one worker.
    assert_eq!(loopback_endpoints(1_000, 1, 19_936, 14_116), 1);
}

#[test]
fn clients_split_evenly_and_cover_every_index() {
    let mut r = req(100_001);
    r.client_per_worker = 5_000;
    r.endpoints = eps(10, 8090);
    let p = plan(&r).unwrap();
    assert_eq!(p.clients.len(), 21);
    let mut next = 0;
    for c in &p.clients {
        assert_eq!(c.first, next);
        assert!(c.count == 4_761 || c.count == 4_762);
        next += c.count;
    }
    assert_eq!(next, 100_001);
}

#[test]
fn pair_arithmetic_visits_every_pair_evenly() {
    let (sources, pairs) = (3u64, 12u64);
    let mut seen = vec![0u64; pairs as usize];
    for i in 0..1200 {
        let (s, e) = pair_of(i, sources, pairs);
        assert!(s < 3 && e < 4);
        seen[e * 3 + s] += 1;
    }
    assert!(seen.iter().all(|&c| c == 100));
}

#[test]
fn servers_without_room_are_refused() {
    let mut r = req(10);
    r.server_per_worker = Some(0);
    assert_eq!(plan(&r).unwrap_err(), PlanError::NoWorkerRoom);
}

#[test]
fn external_servers_get_no_server_workers() {
    let mut r = req(10);
    r.server_per_worker = None;
    assert!(plan(&r).unwrap().servers.is_empty());
}

#[test]
fn range_mode_gives_each_client_worker_its_own_ports() {
    let mut r = req(100_000);
    r.endpoints = eps(10, 8090);
    r.client_per_worker = 5_000;
    r.bind = BindMode::Range;
    let p = plan(&r).unwrap();
    assert_eq!(p.bind, BindMode::Range);
    assert_eq!(p.clients.len(), 20);
    let slices: Vec<(u16, u16)> = p.clients.iter().map(|c| c.ports.unwrap()).collect();
    assert_eq!(slices[0], (32768, 32768 + 1411 - 1));
    for w in slices.windows(2) {
        assert!(w[0].1 < w[1].0, "slices overlap: {w:?}");
    }
    // A full pair over three workers: 9,411 ports wanted of a 9,410 slice.
    r.conns = 28_232;
    r.endpoints = eps(1, 8090);
    r.client_per_worker = 9_411;
    let err = plan(&r).unwrap_err().to_string();
    assert!(err.contains("a slice of 9,410 ports"), "{err}");
    assert!(err.contains("needs up to 9,411 ports per pair"), "{err}");
    assert!(err.contains("--bind-mode no-port"), "{err}");
}

/// The planner's per-pair budget is the doctor's per-pair budget, for
/// several port ranges (and reserved ports): the doctor reads a machine
/// with that range from a temporary /proc tree, the planner is given the
/// usable ports, and both say the same number.
#[test]
fn pair_budget_agrees_with_the_doctor() {
    use c1m_limits::{Role as LimitRole, Roots, Target, num::thousands as th};
    for (range, reserved, usable, budget) in [
        ("32768 60999", "", 28_232u64, 14_116u64),
        ("1024 65535", "", 64_512, 32_256),
        ("40000 40998", "", 999, 499),
        ("60000 60999", "60500-60599", 900, 450),
    ] {
        let dir = std::env::temp_dir().join(format!(
            "c1m-budget-{}-{}",
            std::process::id(),
            range.replace(' ', "-")
        ));
        let ipv4 = dir.join("proc/sys/net/ipv4");
        std::fs::create_dir_all(&ipv4).unwrap();
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(ipv4.join("ip_local_port_range"), format!("{range}\n")).unwrap();
        std::fs::write(
            ipv4.join("ip_local_reserved_ports"),
            format!("{reserved}\n"),
        )
        .unwrap();
        let roots = Roots {
            proc_root: dir.join("proc"),
            etc_root: dir.join("etc"),
            state_dir: dir.join("state"),
        };
        let v = c1m_limits::preflight(&roots, &Target::new(1_000_000, LimitRole::Client));
        std::fs::remove_dir_all(&dir).unwrap();
        let doctor = &v
            .rows
            .iter()
            .find(|r| r.name == "per-pair budget")
            .unwrap()
            .value;
        assert_eq!(default_pair_budget(usable), budget, "{range}");
        assert_eq!(*doctor, th(budget), "{range}");
        // And the planner warns past exactly that number.
        let mut r = req(budget + 1);
        r.local_ports = usable;
        r.pair_budget = default_pair_budget(usable);
        assert!(plan(&r).unwrap().warnings[0].contains(&format!("over the {}", th(budget))));
        r.conns = budget;
        assert!(plan(&r).unwrap().warnings.is_empty(), "{range}");
    }
}

#[test]
fn shards_starting_at_their_offsets_spread_as_the_whole() {
    use super::shard::Shard;
    let total = 10_001;
    let mut whole = req(total);
    whole.endpoints = eps(7, 8090);
    whole.client_per_worker = 1_000;
    let loads = |p: &Plan| {
        let mut per_endpoint = vec![0u64; p.endpoints.len()];
        for c in &p.clients {
            for i in c.range() {
                per_endpoint[pair_of(i, 1, p.pairs).1] += 1;
            }
        }
        per_endpoint
    };
    let want = loads(&plan(&whole).unwrap());
    let mut sum = vec![0u64; 7];
    let mut indices = Vec::new();
    for i in 0..3 {
        let s = Shard::new(i, 3).unwrap();
        let part = plan(&Request {
            conns: s.part(total),
            ..whole.clone()
        })
        .unwrap()
        .starting_at(s.offset(total));
        assert_eq!(part.conns, s.part(total));
        indices.extend(part.clients.iter().flat_map(|c| c.range()));
        for (a, b) in sum.iter_mut().zip(loads(&part)) {
            *a += b;
        }
    }
    assert_eq!(sum, want);
    assert_eq!(
        indices,
        (0..total).collect::<Vec<_>>(),
        "disjoint and complete"
    );
}

#[test]
fn a_reuseport_group_is_planned_with_slack() {
    assert_eq!(reuseport_group(2000, 2000), 1, "fits one worker: no group");
    assert_eq!(reuseport_group(2001, 2000), 2);
    // 85% of 2,000 is 1,700 a worker.
    assert_eq!(reuseport_group(6000, 2000), 4);
    assert_eq!(reuseport_group(3400, 2000), 2);
    assert_eq!(reuseport_group(3401, 2000), 3);
    assert_eq!(reuseport_group(20_000, 19_995), 2);
    assert_eq!(reuseport_group(200_000, 19_995), 12);
    assert_eq!(reuseport_group(5, 1), 5, "a worker of one holds one");
}
