//! A finished c1m command read against report v2 (schema tag
//! `c1m.report/3`): exit code, stdout, stderr and the JSON report, with
//! lookups whose failures show all four, so a failing test explains itself.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The JSON report, or Null when c1m wrote none.
    pub json: Value,
    /// Why the report could not be read, if it could not.
    pub json_error: Option<String>,
    /// What the test's own reading of the kernel showed, for failure
    /// messages.
    pub truth: String,
}

impl Outcome {
    fn new(code: Option<i32>, stdout: String, stderr: String, json: &Path) -> Outcome {
        let read = std::fs::read_to_string(json)
            .map_err(|e| format!("{}: {e}", json.display()))
            .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("{}: {e}", json.display())));
        let (json, json_error) = match read {
            Ok(v) => (v, None),
            Err(e) => (Value::Null, Some(e)),
        };
        Outcome {
            code,
            stdout,
            stderr,
            json,
            json_error,
            truth: String::new(),
        }
    }

    /// Records what the test's truth showed, so that every failure message
    /// shows it next to c1m's figures.
    pub fn note_truth(&mut self, truth: impl std::fmt::Debug) {
        self.truth = format!("{truth:?}");
    }

    /// From `util::run`.
    pub fn of_output(out: &Output, json: &Path) -> Outcome {
        Outcome::new(
            out.status.code(),
            super::text(&out.stdout),
            super::text(&out.stderr),
            json,
        )
    }

    /// Runs `c1m ARGS --json REPORT` to completion, the report at
    /// `report_path(name)`.
    pub fn run(name: &str, args: &[&str]) -> Outcome {
        let json = super::report_path(name);
        let mut all = args.to_vec();
        all.extend_from_slice(&["--json", json.to_str().unwrap()]);
        Outcome::of_output(&super::run(&all), &json)
    }

    /// From `Running::finish`.
    pub fn of_finished(done: (Option<i32>, String, Vec<String>), json: &Path) -> Outcome {
        let (code, stdout, err) = done;
        Outcome::new(code, stdout, err.join("\n"), json)
    }

    /// The value at a dotted path (`held.at_end`), Null when absent.
    pub fn get(&self, path: &str) -> &Value {
        path.split('.')
            .try_fold(&self.json, |v, k| v.get(k))
            .unwrap_or(&Value::Null)
    }

    /// A number the contract promises; panics with the whole context when
    /// it is missing or not a number.
    pub fn u64(&self, path: &str) -> u64 {
        self.get(path).as_u64().unwrap_or_else(|| {
            panic!(
                "report v2: {path} is {} (want a number){}",
                self.get(path),
                self.context()
            )
        })
    }

    /// A string the contract promises.
    pub fn str(&self, path: &str) -> &str {
        self.get(path).as_str().unwrap_or_else(|| {
            panic!(
                "report v2: {path} is {} (want a string){}",
                self.get(path),
                self.context()
            )
        })
    }

    /// The last line on stderr: the one-line reason when the exit code is
    /// not 0.
    pub fn last_stderr_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }

    /// Everything known, for a failure message: exit code, stdout, stderr,
    /// and the JSON (its timeline shortened to a count).
    pub fn context(&self) -> String {
        let mut json = self.json.clone();
        if let Some(tl) = json.get_mut("timeline")
            && let Some(n) = tl.as_array().map(Vec::len)
        {
            *tl = Value::String(format!("[{n} samples, left out]"));
        }
        let json = match &self.json_error {
            Some(e) => format!("(no report: {e})"),
            None => serde_json::to_string_pretty(&json).unwrap(),
        };
        format!(
            "\n--- the kernel, read by the test: {}\n--- exit code: {:?}\n--- stdout:\n{}\n--- stderr:\n{}\n--- JSON:\n{json}\n---",
            self.truth, self.code, self.stdout, self.stderr
        )
    }

    /// Asserts the exit code alone, showing everything when it differs.
    #[track_caller]
    pub fn assert_code(&self, want: i32) {
        assert_eq!(self.code, Some(want), "exit code{}", self.context());
    }

    /// Asserts the break point `--find-limit` found is within 3% of
    /// `truth` (exact for 0), the cause it names is `limit`, and the exit
    /// code 0.
    #[track_caller]
    pub fn assert_found(&self, truth: u64, limit: &str) {
        let at = self.u64("find_limit.break_point");
        assert!(
            at.abs_diff(truth) * 100 <= 3 * truth,
            "break point {at}, the server holds {truth}{}",
            self.context()
        );
        assert_eq!(
            self.str("find_limit.diagnosis.limit"),
            limit,
            "{}",
            self.context()
        );
        self.assert_exit(0);
    }

    /// Asserts every heartbeat sent got its reply, whole and as expected
    /// (none mismatched, none lost, one round trip each); returns how many
    /// were sent.
    #[track_caller]
    pub fn assert_every_reply(&self) -> u64 {
        let sent = self.u64("clients.sent");
        assert!(sent > 0, "no heartbeat sent{}", self.context());
        assert_eq!(
            self.u64("clients.replies"),
            sent,
            "replies{}",
            self.context()
        );
        assert_eq!(self.u64("clients.mismatched"), 0, "{}", self.context());
        assert_eq!(self.u64("clients.lost"), 0, "{}", self.context());
        assert_eq!(self.u64("latency.rtt.count"), sent, "{}", self.context());
        sent
    }

    /// Asserts the exit code, and for a non-zero code the one-line reason
    /// (`c1m: …` last on stderr) and the verdict in the JSON.
    pub fn assert_exit(&self, want: i32) {
        assert_eq!(self.code, Some(want), "exit code{}", self.context());
        assert_eq!(
            self.get("schema"),
            "c1m.report/3",
            "schema tag{}",
            self.context()
        );
        assert_eq!(
            self.u64("verdict.exit_code"),
            want as u64,
            "verdict.exit_code{}",
            self.context()
        );
        assert_eq!(
            self.get("verdict.ok").as_bool(),
            Some(want == 0),
            "verdict.ok{}",
            self.context()
        );
        if want != 0 {
            let last = self.last_stderr_line();
            assert!(
                last.starts_with("c1m: ") && last.len() > "c1m: ".len(),
                "the reason, one line starting `c1m: `, last on stderr; got {last:?}{}",
                self.context()
            );
            assert!(
                self.get("verdict.reason")
                    .as_str()
                    .is_some_and(|r| !r.is_empty()),
                "verdict.reason{}",
                self.context()
            );
        }
    }
}

/// What the kernel showed while c1m held (from `util::truth`).
#[derive(Debug)]
pub struct Seen {
    /// The server processes' own ESTABLISHED sockets on the address.
    pub server: u64,
    /// ESTABLISHED on the address, whoever holds them (accepted or
    /// queued).
    pub on_server: u64,
    /// Client-side sockets to the address, by state.
    pub client: super::truth::StateCounts,
    /// In the listener's accept queue.
    pub waiting: Option<u64>,
}

/// Runs `c1m connect ARGS --json REPORT` (the report at
/// `report_path(name)`), reads the truth for `addr` as soon as its hold
/// has begun (its first ` hold ` progress line, ~1 s in; the server
/// processes are `server_pids`, e.g. from `truth::process_tree`), and
/// returns the outcome with what was seen (None if it never held).
pub fn connect_and_look(
    name: &str,
    args: &[&str],
    addr: std::net::SocketAddr,
    server_pids: &[u32],
) -> (Outcome, Option<Seen>) {
    use super::truth;
    let json = super::report_path(name);
    let mut all = vec!["connect"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--json", json.to_str().unwrap()]);
    let mut c = super::spawn(&all);
    let limit = std::time::Duration::from_secs(120);
    let seen = c.wait_line_or_exit(" hold ", limit).map(|_| Seen {
        server: truth::server_established(server_pids, addr),
        on_server: truth::established_on(addr),
        client: truth::client_states(addr),
        waiting: truth::listen_queue(addr),
    });
    let mut o = Outcome::of_finished(c.finish(limit), &json);
    o.note_truth(&seen);
    (o, seen)
}

/// [`connect_and_look`] for a test that needs the hold: fails, showing
/// everything, when c1m never reached it.
pub fn connect_and_see(
    name: &str,
    args: &[&str],
    addr: std::net::SocketAddr,
    server_pids: &[u32],
) -> (Outcome, Seen) {
    let (o, seen) = connect_and_look(name, args, addr, server_pids);
    let seen = seen.unwrap_or_else(|| panic!("c1m never reached its hold{}", o.context()));
    (o, seen)
}
