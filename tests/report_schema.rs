//! The JSON report against its published schema (`schema/report.schema.json`):
//! captured reports and a fresh one validate, and the schema is strict
//! enough that a report drifting from it (a new field, a wrong tag) fails.

mod util;

use std::path::{Path, PathBuf};

use jsonschema::Validator;
use serde_json::{Value, json};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn schema() -> Value {
    let path = root().join("schema/report.schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("the schema is JSON")
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
        "{what} does not match schema/report.schema.json (a field added or changed without the schema?):\n{e}"
    );
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
    util::read_json(&root().join(format!("tests/fixtures/reports/{name}.json")))
}

#[test]
fn captured_reports_validate() {
    let v = validator();
    for path in fixtures() {
        assert_valid(&v, &util::read_json(&path), &path.display().to_string());
    }
}

#[test]
fn a_fresh_report_validates() {
    let _heavy = util::heavy();
    let json = util::report_path("schema");
    let out = util::run(&[
        "run",
        "-n",
        "5000",
        "--hold",
        "0s",
        "--ports",
        "8990",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "c1m run failed:\n{}\n{}",
        util::text(&out.stdout),
        util::text(&out.stderr)
    );
    let doc = util::read_json(&json);
    assert_valid(&validator(), &doc, "a fresh `c1m run` report");
    // It rendered as a page too.
    c1m::html::render(&doc).expect("rendering the fresh report");
}

#[test]
fn every_shape_the_types_allow_validates() {
    let v = validator();
    let base = fixture("run-fanout");
    let shapes = [
        ("end", json!({"interrupted": 2})),
        (
            "end",
            json!({"worker-died": "client worker 3 (pid 1) was killed by SIGKILL (9)"}),
        ),
        ("verified", json!({"Err": "netlink: permission denied"})),
        ("verified", Value::Null),
        ("memory", Value::Null),
        ("time_to_reach", Value::Null),
        ("traffic", Value::Null),
        ("timeline", json!([])),
        (
            "find_limit",
            json!({
                "break_point": 28000, "held_after": 27990,
                "slo": {"quantile": 0.99, "max": 0.05},
                "diagnosis": {"limit": "latency", "explanation": "p99 went over 50 ms at 28,000"},
                "evidence": {
                    "held": 27990, "failed": [0, 3, 0, 0, 0, 0, 0, 0, 0, 0], "peer_closed": 0,
                    "listen_overflows": 12, "listen_drops": 12, "memory_pressures": 0,
                    "slo_missed": [{"quantile": 0.99, "max": 0.05}, 61000]
                }
            }),
        ),
    ];
    for (k, val) in shapes {
        let mut doc = base.clone();
        doc[k] = val.clone();
        assert_valid(&v, &doc, &format!("a report with {k} = {val}"));
    }
    let mut doc = base.clone();
    doc["plan"]["bind"] = json!("range");
    doc["plan"]["clients"][0]["ports"] = json!([32768, 39825]);
    assert_valid(&v, &doc, "a report with IP_LOCAL_PORT_RANGE slices");
    let mut doc = base.clone();
    doc["memory"]["slab_unreadable"] = json!("reading /proc/slabinfo needs root");
    doc["memory"]["slab_caches"] = json!([]);
    doc["memory"]["slab_caches_total"] = Value::Null;
    assert_valid(&v, &doc, "a report without slabinfo");
}

#[test]
fn drift_and_wrong_tags_are_rejected() {
    let v = validator();
    let base = fixture("run-fanout");
    let bad = [
        ("/schema", json!("c1m.report/2")),
        ("/end", json!("finished")),
        ("/end", json!({"interrupted": "SIGINT"})),
        (
            "/verified",
            json!({"Ok": {"server_side": 1, "client_side": 1, "took": 0.1}, "Err": "x"}),
        ),
        ("/clients/failed", json!([0, 0, 0])),
        ("/timeline/0/phase", json!("warmup")),
        ("/plan/bind", json!("sometimes")),
    ];
    for (at, val) in bad {
        let mut doc = base.clone();
        *doc.pointer_mut(at).unwrap() = val.clone();
        assert!(!v.is_valid(&doc), "the schema accepts {at} = {val}");
    }
    // A field the schema does not know, anywhere, is drift.
    for at in [
        "",
        "/plan",
        "/plan/clients/0",
        "/plan/servers/0",
        "/clients",
        "/servers_at_top",
        "/verified/Ok",
        "/memory",
        "/memory/slab_caches/0",
        "/memory/servers",
        "/traffic",
        "/latency",
        "/latency/connect",
        "/timeline/0",
    ] {
        let mut doc = base.clone();
        let obj = doc.pointer_mut(at).and_then(Value::as_object_mut);
        obj.unwrap_or_else(|| panic!("no object at {at:?}"))
            .insert("new_field".into(), json!(1));
        assert!(
            !v.is_valid(&doc),
            "the schema accepts a new field at {at:?}"
        );
    }
    // A missing field too.
    let mut doc = base.clone();
    doc.as_object_mut().unwrap().remove("memory");
    assert!(
        !v.is_valid(&doc),
        "the schema accepts a report without memory"
    );
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
    assert_eq!(s["$id"], "c1m.report/1");
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(s["properties"]["schema"]["const"], c1m::report::SCHEMA);
    let mut problems = Vec::new();
    walk(&s, &s["$defs"], "#", &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
