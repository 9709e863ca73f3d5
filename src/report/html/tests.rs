//! Rendering captured reports (`tests/fixtures/reports/`) and broken ones.

use serde_json::{Value, json};

use super::*;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/reports/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// The `<svg>` of the figure with this id, if it has one.
fn chart<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let start = html.find(&format!("<figure id=\"chart-{id}\""))?;
    let fig = &html[start..];
    let end = fig.find("</figure>")?;
    let fig = &fig[..end];
    fig.find("<svg").map(|s| &fig[s..])
}

/// Whether an SVG draws something: a path with data or a sized rect.
fn draws(svg: &str) -> bool {
    let path = svg
        .split("<path ")
        .skip(1)
        .any(|p| p.contains(" d=\"M") && !p.contains(" d=\"\""));
    let rect = svg
        .split("<rect class=\"bar")
        .skip(1)
        .any(|r| !r.contains("width=\"0"));
    path || rect
}

#[test]
fn a_full_run_draws_every_chart() {
    let html = render_value(&fixture("run-fanout")).unwrap();
    for id in ["connections", "rate", "memory"] {
        let svg = chart(&html, id).unwrap_or_else(|| panic!("no {id} chart"));
        assert!(draws(svg), "{id}: {svg}");
        assert!(svg.contains("<path class=\"line"), "{id} has no line");
    }
    let slab = chart(&html, "slab").expect("no slab chart");
    assert!(slab.contains("<rect class=\"bar k3\""));
    // The scanner's cache is drawn, marked, and not the sockets'.
    assert!(slab.contains("proc_inode_cache †"));
    assert!(slab.contains("<rect class=\"bar muted scan\""));
    assert!(slab.contains("not the sockets"));
    for cache in ["TCP", "sock_inode_cache", "dentry", "filp", "eventpoll_epi"] {
        assert!(slab.contains(&format!(">{cache}</text>")), "{cache}");
    }
    // Phases are shaded.
    let conns = chart(&html, "connections").unwrap();
    for band in ["band-ramp", "band-hold", "band-teardown"] {
        assert!(conns.contains(band), "{band}");
    }
    assert!(chart(&html, "errors").is_none());
    assert!(html.contains("No connection failed."));
    // Ticks with thousands separators.
    assert!(conns.contains(">20,000</text>"), "{conns}");
    // The summary's figures.
    for text in [
        "kernel memory / socket",
        "kernel memory / connection",
        "user memory / conn, servers",
        "user memory / conn, clients",
        "kernel count (netlink)",
        "8 started, 8 closed cleanly",
        "completed",
    ] {
        assert!(html.contains(text), "{text}");
    }
    assert!(!html.contains("Not in this report"));
}

#[test]
fn the_page_is_self_contained() {
    let html = render_value(&fixture("run-fanout")).unwrap();
    for bad in ["<script", "<link", "@import", "url(", "http://", "https://"] {
        let hits: Vec<_> = html
            .match_indices(bad)
            .filter(|(i, _)| !html[..*i].ends_with("xmlns=\""))
            .collect();
        assert!(hits.is_empty(), "{bad} in the page");
    }
    assert!(html.contains("prefers-color-scheme: dark"));
}

#[test]
fn errors_are_drawn_by_cause_with_explanations() {
    let html = render_value(&fixture("connect-mixed")).unwrap();
    let svg = chart(&html, "errors").expect("no errors chart");
    assert!(svg.contains("client ECONNREFUSED"));
    assert!(svg.contains("<rect class=\"bar k5\""));
    assert!(html.contains(&esc(crate::cause::Cause::Refused.explain())));
    // A connect has no servers of its own: no server line.
    let conns = chart(&html, "connections").unwrap();
    assert!(conns.contains("clients&#39; established"));
    assert!(!conns.contains("servers&#39; established"));
}

#[test]
fn a_serve_report_has_no_client_line() {
    let html = render_value(&fixture("serve")).unwrap();
    let conns = chart(&html, "connections").expect("no connections chart");
    assert!(draws(conns));
    assert!(conns.contains("servers&#39; established"));
    assert!(!conns.contains("clients&#39; established"));
    assert!(html.contains("most held at once"));
}

#[test]
fn a_run_that_lost_a_worker_says_what_is_missing() {
    let html = render_value(&fixture("run-worker-died")).unwrap();
    assert!(html.contains("Not in this report"));
    assert!(html.contains("`memory` is null"));
    assert!(html.contains("`verified` is null"));
    assert!(html.contains("stopped: client worker"));
    assert!(html.contains("class=\"end bad\""));
    assert!(draws(chart(&html, "connections").unwrap()));
    assert!(html.contains("No chart: no memory measurement"));
}

#[test]
fn a_minimal_document_renders() {
    let html = render_value(&json!({"schema": "c1m.report/1", "label": "run"})).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("Not in this report"));
    assert!(html.contains("No chart: no timeline samples"));
    assert!(html.ends_with("</html>\n"));
}

#[test]
fn fields_of_the_wrong_type_do_not_panic() {
    let mut doc = fixture("run-fanout");
    for (k, v) in [
        ("timeline", json!([{"t": "soon"}, 3, null, {"t": 1.0}])),
        (
            "memory",
            json!({"slab_caches": [1, {"name": 2}], "sockets": -1}),
        ),
        ("verified", json!({"Ok": 5})),
        ("end", json!({"interrupted": 1e300})),
        ("plan", json!("nope")),
        ("clients", json!({"failed": [1, "x", -3]})),
    ] {
        doc[k] = v;
        render_value(&doc).unwrap();
    }
}

#[test]
fn interrupted_runs_name_the_signal() {
    let mut doc = fixture("run-fanout");
    doc["end"] = json!({"interrupted": 2});
    let html = render_value(&doc).unwrap();
    assert!(html.contains("interrupted by SIGINT"));
}

#[test]
fn text_from_the_document_is_escaped() {
    let mut doc = fixture("connect-mixed");
    doc["label"] = json!("<script>alert(1)</script>");
    doc["dead"] = json!(["a & b <i>"]);
    doc["memory"]["slab_caches"][0]["name"] = json!("x\"><svg onload=1>");
    let html = render_value(&doc).unwrap();
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("a &amp; b &lt;i&gt;"));
    assert!(!html.contains("\"><svg onload"));
}

#[test]
fn other_documents_are_refused() {
    assert!(render_value(&json!([1, 2])).is_err());
    assert!(render_value(&json!({"label": "run"})).is_err());
    let e = render_value(&json!({"schema": "c1m.report/0"})).unwrap_err();
    assert!(e.to_string().contains("c1m.report/0"), "{e}");
}

#[test]
fn escaping() {
    assert_eq!(esc("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
    assert_eq!(esc("µs × 2"), "µs × 2");
}

#[test]
fn slab_figures_polluted_by_other_sockets_are_flagged() {
    let mut doc = fixture("run-fanout");
    let clean = render_value(&doc).unwrap();
    assert!(!clean.contains("class=\"caution\""));
    // Something else closed 400,000 sockets during the run.
    let caches = doc["memory"]["slab_caches"].as_array_mut().unwrap();
    let tcp = caches.iter_mut().find(|c| c["name"] == "TCP").unwrap();
    tcp["objects"] = json!(-360_000);
    let html = render_value(&doc).unwrap();
    assert!(html.contains("class=\"caution\""));
    assert!(html.contains("-360,000 objects"));
}

#[test]
fn heartbeat_round_trips_get_a_latency_chart() {
    let mut doc = fixture("run-fanout");
    let idle = render_value(&doc).unwrap();
    assert!(chart(&idle, "latency").is_none(), "no heartbeats, no chart");
    for (i, s) in doc["timeline"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        s["rtt_p50_us"] = json!(500 + i * 10);
        s["rtt_p99_us"] = json!(2_000 + i * 100);
        s["rtt_max_us"] = json!(9_000);
    }
    let html = render_value(&doc).unwrap();
    let svg = chart(&html, "latency").expect("a latency chart");
    assert!(draws(svg));
    assert!(html.contains("Round trip over time"));
}
