//! The JSON report against its published schema (`schema/report.schema.json`).
//!
//! The schema is generated from the report's types (`c1m::report::schema()`,
//! schemars): the committed file must equal the generated one. When a
//! field of the report changes, regenerate the file with
//!
//! ```sh
//! C1M_BLESS=1 cargo test --release --test report_schema
//! ```
//!
//! and commit it with the change. The other tests check that the schema is
//! a valid, closed, described 2020-12 schema, that captured reports and a
//! fresh one validate and round-trip through the types, and that a report
//! drifting from it (a new field, a wrong tag) fails.

use std::path::{Path, PathBuf};

use jsonschema::Validator;
use serde_json::{Value, json};

/// The environment variable that makes the drift test rewrite the file.
const BLESS: &str = "C1M_BLESS";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn schema_path() -> PathBuf {
    root().join("schema/report.schema.json")
}

/// The schema as generated, in the committed file's layout.
fn generated_text() -> String {
    serde_json::to_string_pretty(&c1m::report::schema()).unwrap() + "\n"
}

/// The committed schema (the generated one while blessing, so the other
/// tests of a blessing run check what is being written).
fn schema() -> Value {
    if std::env::var_os(BLESS).is_some() {
        return c1m::report::schema();
    }
    let path = schema_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("the schema is JSON")
}

/// The committed schema is the generated one. On a difference, the
/// message names the first differing line and the command that
/// regenerates the file: `C1M_BLESS=1 cargo test --release --test
/// report_schema`.
#[test]
fn the_committed_schema_is_generated_from_the_types() {
    let path = schema_path();
    let generated = generated_text();
    if std::env::var_os(BLESS).is_some() {
        std::fs::write(&path, &generated).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == generated {
        return;
    }
    let first = committed
        .lines()
        .zip(generated.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(committed.lines().count().min(generated.lines().count()));
    let line = |t: &str| t.lines().nth(first).unwrap_or("(end of file)").to_string();
    panic!(
        "schema/report.schema.json is not the schema the report's types generate \
         (a field of src/report/model.rs or a type it holds changed).\n\
         first difference, line {}:\n  committed: {}\n  generated: {}\n\
         regenerate it with:\n  {BLESS}=1 cargo test --release --test report_schema\n\
         and commit the file with the change.",
        first + 1,
        line(&committed),
        line(&generated)
    );
}

fn validator() -> Validator {
    let s = schema();
    jsonschema::draft202012::meta::validate(&s).expect("the schema is a valid 2020-12 schema");
    jsonschema::draft202012::new(&s).expect("the schema compiles")
}

/// Every validation error, one per line, or nothing.
fn errors(v: &Validator, doc: &Value) -> String {
    v.iter_errors(doc)
        .map(|e| format!("  at {}: {e}", e.instance_path()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_valid(v: &Validator, doc: &Value, what: &str) {
    let e = errors(v, doc);
    assert!(
        e.is_empty(),
        "{what} does not match schema/report.schema.json:\n{e}"
    );
}

/// The document read back through the types (`c1m::report::read_json`)
/// and written again is the same document.
fn assert_round_trips(doc: &Value, what: &str) -> c1m::report::model::Report {
    let r = c1m::report::read_json(&doc.to_string())
        .unwrap_or_else(|e| panic!("{what} does not read back: {e:#}"));
    let again = serde_json::to_value(&r).unwrap();
    assert!(
        &again == doc,
        "{what} changes when read and written again:\n{}",
        serde_json::to_string_pretty(&again).unwrap()
    );
    r
}

fn fixtures() -> Vec<PathBuf> {
    let dir = root().join("tests/fixtures/reports");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixture reports in {dir:?}");
    files
}

fn fixture(name: &str) -> Value {
    crate::util::read_json(&root().join(format!("tests/fixtures/reports/{name}.json")))
}

#[test]
fn captured_reports_validate_and_round_trip() {
    let v = validator();
    for path in fixtures() {
        let doc = crate::util::read_json(&path);
        let what = path.display().to_string();
        assert_valid(&v, &doc, &what);
        assert_round_trips(&doc, &what);
    }
}

#[test]
fn a_fresh_report_validates_round_trips_and_renders() {
    let _heavy = crate::util::heavy();
    let o = crate::util::outcome::Outcome::run(
        "schema",
        &["run", "-n", "5000", "--hold", "0s", "--ports", "8990"],
    );
    o.assert_code(0);
    let doc = o.json;
    assert_valid(&validator(), &doc, "a fresh `c1m run` report");
    let r = assert_round_trips(&doc, "a fresh `c1m run` report");
    assert_eq!(r.schema, c1m::report::model::SCHEMA);
    // Held at the end, checked against the page rather than the JSON.
    let page = c1m::report::html::render(&r).expect("rendering the fresh report");
    assert!(page.contains("held at the end"), "{page}");
}

/// A change to the document at a JSON pointer.
type Edit = (&'static str, Value);

fn edited(base: &Value, edits: &[Edit]) -> Value {
    let mut doc = base.clone();
    for (at, val) in edits {
        if let Some(slot) = doc.pointer_mut(at) {
            *slot = val.clone();
            continue;
        }
        // A field the fixture leaves out (absent when empty): added to
        // its object.
        let (parent, key) = at.rsplit_once('/').unwrap();
        doc.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("no {parent} in the fixture"))
            .insert(key.to_string(), val.clone());
    }
    doc
}

#[test]
fn every_shape_the_types_allow_validates() {
    let v = validator();
    let base = fixture("run-fanout");
    let shapes: Vec<Vec<Edit>> = vec![
        vec![("/end", json!({"kind": "interrupted", "signal": "SIGINT"}))],
        vec![
            (
                "/end",
                json!({"kind": "interrupted", "signal": "SIGTERM", "during": "start-up"}),
            ),
            ("/workers/killed", json!(12)),
        ],
        vec![(
            "/end",
            json!({"kind": "worker-died", "why": "server worker 0 (pid 1) was killed by SIGKILL (9)", "during": "verify"}),
        )],
        vec![(
            "/end",
            json!({"kind": "aborted", "why": "--fail-if held<99.9% failed 3.2 s in: held was 75%"}),
        )],
        vec![(
            "/thresholds",
            json!([
                {"threshold": "held<99.9%", "status": "fail", "value": 75.0, "limit": 99.9,
                 "unit": "percent", "figure": "1,500 of 2,000 (75%) held at the end",
                 "exit_code": 3, "tripped": {"t": 3.25, "value": 74.95}},
                {"threshold": "p99(rtt)>50ms", "status": "not-measured", "value": null,
                 "limit": 50000.0, "unit": "us", "figure": "not measured: no round trips were timed",
                 "exit_code": 4, "tripped": null},
                {"threshold": "connect_rate<20k/s", "status": "pass", "value": 25000.5,
                 "limit": 20000.0, "unit": "per-second", "figure": "25,001/s on average",
                 "exit_code": 6, "tripped": null}
            ]),
        )],
        vec![(
            "/end",
            json!({"kind": "worker-died", "why": "client worker 3 (pid 1) was killed by SIGKILL (9)"}),
        )],
        vec![(
            "/kernel/at_end",
            json!({"status": "unavailable", "reason": "netlink: permission denied"}),
        )],
        vec![("/kernel/at_top", json!({"status": "not-taken"}))],
        vec![
            ("/server_side/seen", json!("remote")),
            ("/server_side/established", Value::Null),
            ("/server_side/accepted", Value::Null),
            ("/server_side/waiting", Value::Null),
            ("/server_side/listeners", json!([])),
            ("/phantoms", Value::Null),
        ],
        vec![(
            "/phantoms",
            json!({"count": 12, "cause": "the accept queue was full", "fix": "raise the backlog"}),
        )],
        vec![
            ("/closes/fin_with_data", json!(200)),
            (
                "/closes/first_bytes",
                json!("-ERR max number of clients reached\\r\\n"),
            ),
        ],
        vec![("/held/min_during_hold", Value::Null)],
        vec![("/held/source", json!("workers"))],
        vec![("/listen_counters", Value::Null)],
        vec![("/memory", Value::Null)],
        vec![("/time_to_reach", Value::Null)],
        vec![("/traffic", Value::Null)],
        vec![("/latency/connect", Value::Null)],
        vec![("/timeline", json!([]))],
        vec![(
            "/origin/run_netns",
            json!({"name": "c1m-run-4242", "planned_buckets": 4194304, "buckets": 4194304, "own_table": true}),
        )],
        vec![(
            "/origin/run_netns",
            json!({"name": "c1m-run-4242", "planned_buckets": 4194304, "buckets": 262144, "own_table": false}),
        )],
        vec![
            ("/verdict/ok", json!(false)),
            ("/verdict/exit_code", json!(130)),
            ("/verdict/reason", json!("interrupted by SIGINT")),
        ],
        vec![
            ("/plan/bind", json!("range")),
            ("/plan/clients/0/ports", json!([32768, 39825])),
        ],
        vec![
            (
                "/memory/slab_unreadable",
                json!("reading /proc/slabinfo needs root"),
            ),
            ("/memory/slab_caches", json!([])),
            ("/memory/slab_caches_total", Value::Null),
        ],
    ];
    for edits in &shapes {
        let doc = edited(&base, edits);
        let what = format!("a report with {edits:?}");
        assert_valid(&v, &doc, &what);
        assert_round_trips(&doc, &what);
    }
    let search = fixture("find-limit");
    let doc = edited(
        &search,
        &[
            ("/find_limit/diagnosis/limit", json!("latency")),
            ("/find_limit/slo", json!("p99<50.0 ms")),
            (
                "/find_limit/evidence/slo_missed",
                json!({"objective": "p99<50.0 ms", "value_us": 61000}),
            ),
        ],
    );
    assert_valid(&v, &doc, "a capacity search broken by latency");
    assert_round_trips(&doc, "a capacity search broken by latency");
}

#[test]
fn drift_and_wrong_tags_are_rejected() {
    let v = validator();
    let base = fixture("run-fanout");
    let search = fixture("find-limit");
    let bad: [(&Value, Edit); 14] = [
        (&base, ("/schema", json!("c1m.report/1"))),
        (&base, ("/command", json!("sprint"))),
        (&base, ("/end", json!("completed"))),
        (&base, ("/end", json!({"kind": "interrupted", "signal": 2}))),
        (&base, ("/kernel/at_end", json!({"status": "counted"}))),
        (&base, ("/clients/failed", json!([0, 0, 0]))),
        (&base, ("/timeline/0/phase", json!("warmup"))),
        (&base, ("/plan/bind", json!("sometimes"))),
        (&base, ("/server_side/seen", json!("nearby"))),
        (&base, ("/held/at_end", json!(-1))),
        (&base, ("/verdict/exit_code", json!(300))),
        (&base, ("/verdict/reason", json!(7))),
        (&base, ("/closes/first_bytes", json!(["-ERR"]))),
        (&search, ("/find_limit/diagnosis/limit", json!("gremlins"))),
    ];
    for (doc, (at, val)) in bad {
        let doc = edited(doc, &[(at, val.clone())]);
        assert!(!v.is_valid(&doc), "the schema accepts {at} = {val}");
        assert!(
            c1m::report::read_json(&doc.to_string()).is_err(),
            "the types accept {at} = {val} and the schema does not"
        );
    }
    // A field the schema does not know, anywhere, is drift.
    let objects = [
        "",
        "/plan",
        "/plan/clients/0",
        "/plan/servers/0",
        "/held",
        "/kernel",
        "/kernel/at_top",
        "/server_side",
        "/server_side/listeners/0",
        "/phantoms",
        "/listen_counters",
        "/closes",
        "/clients",
        "/clients/failed",
        "/servers_at_top",
        "/memory",
        "/memory/slab_caches/0",
        "/memory/servers",
        "/traffic",
        "/latency",
        "/latency/connect",
        "/timeline/0",
        "/workers",
        "/end",
        "/verdict",
    ];
    let search_objects = [
        "/find_limit",
        "/find_limit/diagnosis",
        "/find_limit/evidence",
        "/find_limit/evidence/failed",
        "/find_limit/evidence/closes",
        "/find_limit/evidence/counters",
    ];
    let all = objects
        .iter()
        .map(|at| (&base, at))
        .chain(search_objects.iter().map(|at| (&search, at)));
    for (doc, at) in all {
        let mut doc = doc.clone();
        let obj = doc.pointer_mut(at).and_then(Value::as_object_mut);
        obj.unwrap_or_else(|| panic!("no object at {at:?}"))
            .insert("new_field".into(), json!(1));
        assert!(
            !v.is_valid(&doc),
            "the schema accepts a new field at {at:?}"
        );
        let read = c1m::report::read_json(&doc.to_string());
        if *at == "/end" {
            // `End::Completed` is a unit variant of an internally tagged
            // enum: serde ignores unknown fields there despite
            // `deny_unknown_fields` (serde-rs/serde#2123). The schema is
            // the stricter of the two; when serde or the model changes,
            // drop this exception.
            assert!(read.is_ok(), "serde now rejects {at:?}: drop the exception");
            continue;
        }
        assert!(read.is_err(), "the types accept a new field at {at:?}");
    }
    // A missing field too.
    for field in ["held", "verdict", "closes", "server_side"] {
        let mut doc = base.clone();
        doc.as_object_mut().unwrap().remove(field);
        assert!(
            !v.is_valid(&doc),
            "the schema accepts a report without {field}"
        );
    }
}

/// Every object the schema describes is closed (`additionalProperties:
/// false`) and every property has a description, so drift fails the tests
/// and the schema documents the format.
#[test]
fn the_schema_is_closed_and_described() {
    fn walk(s: &Value, defs: &Value, at: &str, problems: &mut Vec<String>) {
        match s {
            Value::Object(m) => {
                let is_object =
                    m.get("type") == Some(&json!("object")) || m.contains_key("properties");
                if is_object && m.get("additionalProperties") != Some(&json!(false)) {
                    problems.push(format!(
                        "{at}: an object without additionalProperties: false"
                    ));
                }
                if let Some(Value::Object(props)) = m.get("properties") {
                    for (name, p) in props {
                        // A property is described in place, or by what it refers to.
                        let target = p
                            .get("$ref")
                            .and_then(Value::as_str)
                            .and_then(|r| r.strip_prefix("#/$defs/"))
                            .and_then(|d| defs.get(d));
                        let described = p.get("description").is_some()
                            || target.is_some_and(|t| t.get("description").is_some());
                        if !described {
                            problems.push(format!("{at}/properties/{name}: no description"));
                        }
                    }
                }
                for (k, v) in m {
                    walk(v, defs, &format!("{at}/{k}"), problems);
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(v, defs, &format!("{at}/{i}"), problems);
                }
            }
            _ => {}
        }
    }
    let s = schema();
    assert_eq!(s["$id"], c1m::report::model::SCHEMA);
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(
        s["properties"]["schema"]["const"],
        c1m::report::model::SCHEMA
    );
    assert!(s["description"].as_str().is_some_and(|d| d.len() > 100));
    let mut problems = Vec::new();
    walk(&s, &s["$defs"], "#", &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `c1m merge … | head -1`: the summary's reader is gone before c1m
/// writes. No panic, no backtrace; the files are still written and the
/// exit code is the verdict's.
#[test]
fn a_reader_that_stops_reading_is_not_a_crash() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let html = std::env::temp_dir().join(format!("c1m-epipe-{}.html", std::process::id()));
    let out = crate::util::c1m()
        .arg("merge")
        .arg(root().join("tests/fixtures/reports/run-fanout.json"))
        .arg("--html")
        .arg(&html)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        out.status.code(),
        Some(
            fixture("run-fanout")["verdict"]["exit_code"]
                .as_u64()
                .unwrap() as i32
        ),
        "{err}"
    );
    assert!(std::fs::metadata(&html).is_ok_and(|m| m.len() > 1000));
    let _ = std::fs::remove_file(&html);
}
