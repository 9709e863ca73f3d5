//! Which limit binds first for a target, computed from [`Facts`].
//!
//! **Invariant:** pure. No file, syscall or clock is touched here; every
//! figure comes from `Facts`, so every verdict is tested on constructed
//! machines. The rows themselves, and their types, are built in `rows/`.

use serde::Serialize;

use crate::facts::Facts;
use crate::num::{plural, thousands};
pub use crate::rows::{Group, Row, Scope, Status};
use crate::target::{Role, Target};

/// The verdict for one target on one machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// What was checked.
    pub target: Target,
    /// Every limit read, grouped, in report order.
    pub rows: Vec<Row>,
    /// Connections one worker process holds, when RLIMIT_NOFILE was readable.
    pub per_process: Option<u64>,
    /// Why a worker holds that many (`RLIMIT_NOFILE 20,000 hard, no CAP_SYS_RESOURCE`).
    pub per_process_basis: String,
    /// Lockout traps and other dangers found on the way.
    pub warnings: Vec<String>,
    /// Hard caps that could not be checked because their files were unreadable.
    pub unchecked: Vec<String>,
    #[serde(skip)]
    binding: Option<usize>,
}

impl Verdict {
    /// Whether the machine holds the target (possibly across worker processes).
    pub fn ok(&self) -> bool {
        self.binding().is_none_or(|r| r.status != Status::Binds)
    }

    /// The limit that binds first: the hard cap below the target when there
    /// is one, else per-process fds when c1m must fan out, else the nearest
    /// hard cap above the target.
    pub fn binding(&self) -> Option<&Row> {
        self.binding.map(|i| &self.rows[i])
    }

    /// The connections to run with when capping instead of refusing: the
    /// target when it fits, else the most this machine holds.
    pub fn capped(&self) -> u64 {
        match self.max_connections() {
            Some(max) if !self.ok() => max.min(self.target.conns),
            _ => self.target.conns,
        }
    }

    /// The most connections this machine holds: the smallest hard cap;
    /// `None` when no hard cap could be computed.
    pub fn max_connections(&self) -> Option<u64> {
        self.hard_caps().map(|(_, c)| c).min()
    }

    /// Worker processes needed: for `Server` or `Client`, that side's count
    /// (0 if that side is not on this box); for `Both`, the sum. Assumes one
    /// process per side when RLIMIT_NOFILE could not be read.
    pub fn worker_processes(&self, role: Role) -> u64 {
        let per_side = match self.per_process {
            Some(p) if p > 0 => self.target.conns.div_ceil(p),
            _ => 1,
        };
        let server = if self.target.role.has_server() {
            per_side
        } else {
            0
        };
        let client = if self.target.role.has_client() {
            per_side
        } else {
            0
        };
        match role {
            Role::Server => server,
            Role::Client => client,
            Role::Both => server + client,
        }
    }

    /// How to lift the binding limit, when the target does not fit.
    pub fn fix(&self) -> Option<&str> {
        self.binding()
            .filter(|r| r.status == Status::Binds)
            .and_then(|r| r.fix.as_deref())
    }

    /// The one-line verdict: `1,000,000 connections: OK — …` or
    /// `1,000,000 connections: capped at N by X; fix: …`.
    pub fn line(&self) -> String {
        self.line_of(self.processes_phrase())
    }

    /// The one-line verdict with the worker processes a command planned
    /// (`serve` plans each worker 85% full, `--worker-conns` makes more):
    /// what it will run, not what the descriptor limit alone implies.
    pub fn line_planned(&self, servers: u64, clients: u64) -> String {
        self.line_of(self.phrase_of(servers, clients))
    }

    fn line_of(&self, processes: String) -> String {
        let mut line = format!(
            "{}: ",
            plural(self.target.conns, "connection", "connections")
        );
        match self.binding() {
            Some(row) if row.status == Status::Binds => {
                line += &format!(
                    "capped at {} by {}",
                    thousands(row.capacity.unwrap_or(0)),
                    row.name
                );
                if let Some(fix) = &row.fix {
                    line += &format!("; fix: {fix}");
                }
            }
            Some(row) if row.status == Status::FansOut => {
                line += &format!(
                    "OK — per-process fds bind first ({}): c1m fans out to {processes}",
                    self.per_process_basis,
                );
            }
            Some(row) => {
                line += "OK — ";
                if self.per_process.is_some() {
                    line += &format!("fits in {processes}; ");
                }
                line += &format!(
                    "nearest limit: {} at {}",
                    row.name,
                    thousands(row.capacity.unwrap_or(0))
                );
            }
            None => line += "OK",
        }
        if !self.unchecked.is_empty() {
            if self.ok() {
                line = line.replacen(": OK", ": OK as far as readable", 1);
            }
            line += &format!(" (unchecked, unreadable: {})", self.unchecked.join(", "));
        }
        line
    }

    fn processes_phrase(&self) -> String {
        self.phrase_of(
            self.worker_processes(Role::Server),
            self.worker_processes(Role::Client),
        )
    }

    fn phrase_of(&self, s: u64, c: u64) -> String {
        let clients = plural(c, "client process", "client processes");
        match self.target.role {
            Role::Both => format!("{} server + {clients}", thousands(s)),
            Role::Server => plural(s, "server process", "server processes"),
            Role::Client => clients,
        }
    }

    fn hard_caps(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.scope == Scope::Machine && r.status != Status::Unreadable)
            .filter_map(|(i, r)| Some((i, r.capacity?)))
    }
}

/// Computes the verdict for `target` on the machine `facts` describes.
pub fn evaluate(facts: &Facts, target: &Target) -> Verdict {
    let sheet = crate::rows::build(facts, target);
    let mut v = Verdict {
        target: *target,
        rows: sheet.rows,
        per_process: sheet.per_process,
        per_process_basis: sheet.per_process_basis,
        warnings: sheet.warnings,
        unchecked: sheet.unchecked,
        binding: None,
    };
    // The smallest hard cap; the first one listed wins a tie.
    let smallest = v
        .hard_caps()
        .fold(None, |best: Option<(usize, u64)>, (i, c)| match best {
            Some((_, b)) if b <= c => best,
            _ => Some((i, c)),
        });
    let fans_out = v.rows.iter().position(|r| r.status == Status::FansOut);
    v.binding = match smallest {
        Some((i, c)) if c < target.conns => Some(i),
        _ => fans_out.or(smallest.map(|(i, _)| i)),
    };
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibration::ESTIMATED_BYTES_PER_SOCKET;
    use crate::facts::Reading;
    use crate::target::{Tuples, WORKER_FD_RESERVE};

    fn both(conns: u64) -> Target {
        Target::new(conns, Role::Both)
    }

    #[test]
    fn per_process_fds_bind_first_and_c1m_fans_out() {
        let v = evaluate(&Facts::sample(), &both(1_000_000));
        assert!(v.ok());
        assert_eq!(
            v.line(),
            "1,000,000 connections: OK — per-process fds bind first (RLIMIT_NOFILE 20,000 hard, \
             no CAP_SYS_RESOURCE): c1m fans out to 51 server + 51 client processes"
        );
        assert_eq!(v.per_process, Some(20_000 - WORKER_FD_RESERVE));
        assert_eq!(v.worker_processes(Role::Both), 102);
        assert_eq!(v.fix(), None);
        assert_eq!(v.capped(), 1_000_000);
        // The smallest hard cap: file-max, (2,466,170 − 378) / 2.
        assert_eq!(v.max_connections(), Some(1_232_896));
    }

    #[test]
    fn the_smallest_cap_below_target_binds() {
        let mut f = Facts::sample();
        f.file_max = Reading::Value(1_000_378); // 500,000 connections
        f.mem_available = Reading::Value(3_000_000_000); // ~375,600 connections
        let v = evaluate(&f, &both(1_000_000));
        assert!(!v.ok());
        let b = v.binding().unwrap();
        assert_eq!((b.name.as_str(), b.status), ("MemAvailable", Status::Binds));
        let binding: Vec<&str> = v
            .rows
            .iter()
            .filter(|r| r.binds)
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(binding, ["fs.file-max", "RLIMIT_NOFILE", "MemAvailable"]);
        assert!(
            v.line()
                .starts_with("1,000,000 connections: capped at 375,600 by MemAvailable; fix: ")
        );
        assert_eq!(v.max_connections(), Some(375_600));
        assert_eq!(v.capped(), 375_600);
    }

    #[test]
    fn a_tie_goes_to_the_first_listed() {
        let mut f = Facts::sample();
        f.file_max = Reading::Value(200_378); // 100,000 connections
        f.mem_available = Reading::Value((ESTIMATED_BYTES_PER_SOCKET * 2.0 * 100_000.0) as u64 + 1);
        let v = evaluate(&f, &both(1_000_000));
        assert_eq!(v.binding().unwrap().name, "fs.file-max");
    }

    #[test]
    fn a_small_target_fits_in_one_process_per_side() {
        let v = evaluate(&Facts::sample(), &both(10_000));
        assert_eq!(
            v.line(),
            "10,000 connections: OK — fits in 1 server + 1 client process; nearest limit: fs.file-max at 1,232,896"
        );
        let v = evaluate(&Facts::sample(), &Target::new(10_000, Role::Client));
        assert!(
            v.line().contains("fits in 1 client process"),
            "{}",
            v.line()
        );
        assert_eq!(v.worker_processes(Role::Server), 0);
    }

    #[test]
    fn the_planned_line_states_the_workers_the_command_runs() {
        // Trial 5: serve's doctor line said 51 server processes, then
        // serve started 60 (each worker planned 85% full).
        let v = evaluate(&Facts::sample(), &Target::new(1_000_000, Role::Server));
        assert!(
            v.line().ends_with("c1m fans out to 51 server processes"),
            "{}",
            v.line()
        );
        let planned = v.line_planned(60, 0);
        assert!(
            planned.ends_with("c1m fans out to 60 server processes"),
            "{planned}"
        );
        let v = evaluate(&Facts::sample(), &Target::new(15_000, Role::Server));
        let planned = v.line_planned(3, 0);
        assert!(
            planned.contains("OK — fits in 3 server processes; "),
            "{planned}"
        );
        let v = evaluate(&Facts::sample(), &both(10_000));
        let planned = v.line_planned(1, 2);
        assert!(
            planned.contains("fits in 1 server + 2 client processes"),
            "{planned}"
        );
    }

    #[test]
    fn unreadable_caps_are_named_not_guessed() {
        let mut f = Facts::sample();
        f.rlimit_nofile = Reading::Unreadable("/proc/self/limits: missing".into());
        f.mem_available = Reading::Unreadable("/proc/meminfo: missing".into());
        let v = evaluate(&f, &both(1_000_000));
        assert!(v.ok());
        assert_eq!(
            v.worker_processes(Role::Both),
            2,
            "one per side when unknown"
        );
        assert_eq!(
            v.line(),
            "1,000,000 connections: OK as far as readable — nearest limit: fs.file-max at 1,232,896 \
             (unchecked, unreadable: RLIMIT_NOFILE, MemAvailable)"
        );
    }

    #[test]
    fn client_ports_bind_only_with_a_fixed_tuple_space() {
        let tuples = Tuples {
            sources: 2,
            dest_addrs: 1,
            dest_ports: 3,
        };
        let t = Target {
            conns: 200_000,
            role: Role::Client,
            tuples: Some(tuples),
        };
        let v = evaluate(&Facts::sample(), &t);
        let b = v.binding().unwrap();
        assert_eq!(
            (b.name.as_str(), b.capacity),
            ("net.ipv4.ip_local_port_range", Some(28_232 * 6))
        );
        assert!(!v.ok());
        assert!(
            v.fix().unwrap().starts_with("use ≥ 3 source addresses"),
            "{:?}",
            v.fix()
        );
        let v = evaluate(&Facts::sample(), &Target { tuples: None, ..t });
        assert!(v.ok());
    }
}
