//! Rendering captured reports (`tests/fixtures/reports/`, made by real
//! runs as their README says) and edited ones.

use super::*;
use crate::plan::thousands;
use crate::report::fixtures::{FIXTURES, fixture};
use crate::report::model::{End, KernelCount, ListenCounters, Report};

fn page(r: &Report) -> String {
    render(r).unwrap()
}

/// The `<svg>` of the figure with this id, if it has one.
fn chart<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let start = html.find(&format!("<figure id=\"chart-{id}\""))?;
    let fig = &html[start..];
    let end = fig.find("</figure>")?;
    let fig = &fig[..end];
    fig.find("<svg").map(|s| &fig[s..])
}

/// Whether an SVG draws something: a path with data or a sized bar.
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

/// The headline card: the first card, held at the end.
fn headline_card(html: &str) -> &str {
    let start = html
        .find("<div class=\"card wide")
        .expect("no headline card");
    let card = &html[start..];
    &card[..card.find("</dl></div>").expect("no figures beside it")]
}

#[test]
fn every_summary_row_is_in_the_page() {
    for name in FIXTURES {
        let r = fixture(name);
        let html = page(&r);
        for row in crate::report::rows::summary(&r) {
            let value = row.value.split_whitespace().collect::<Vec<_>>().join(" ");
            let cells = format!("<th>{}</th><td>{}</td>", esc(&row.key), esc(&value));
            assert!(html.contains(&cells), "{name}: no row {cells}");
        }
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.ends_with("</html>\n"));
    }
}

#[test]
fn a_full_run_draws_every_chart() {
    let html = page(&fixture("run-fanout"));
    for id in ["connections", "rate", "memory", "at-end"] {
        let svg = chart(&html, id).unwrap_or_else(|| panic!("no {id} chart"));
        assert!(draws(svg), "{id}: {svg}");
    }
    let slab = chart(&html, "slab").expect("no slab chart");
    assert!(slab.contains("<rect class=\"bar k3\""));
    // The scanner's cache is drawn, marked, and not the sockets'.
    assert!(slab.contains("proc_inode_cache †"));
    assert!(slab.contains("<rect class=\"bar muted scan\""));
    assert!(slab.contains("not the sockets"));
    for cache in ["TCP", "sock_inode_cache", "filp", "eventpoll_epi"] {
        assert!(slab.contains(&format!(">{cache}</text>")), "{cache}");
    }
    // A cache the sockets share with the scanner: marked, its bar the
    // sockets' part.
    assert!(slab.contains(">dentry †</text>"));
    assert!(slab.contains("objs, the /proc scanner"));
    // Phases are shaded and named; the 0.4 s ramp's label does not sit
    // on the hold's.
    let conns = chart(&html, "connections").unwrap();
    for band in ["band-ramp", "band-hold", "band-teardown"] {
        assert!(conns.contains(band), "{band}");
    }
    assert!(conns.contains(">ramp</text>") && conns.contains(">hold</text>"));
    assert!(chart(&html, "errors").is_none());
    assert!(chart(&html, "closes").is_none());
    assert!(html.contains("No connection failed."));
    assert!(html.contains("The server closed no established connection."));
    // Ticks with thousands separators.
    assert!(conns.contains(">20,000</text>"), "{conns}");
    // The verdict at the top, the held-at-the-end card first.
    assert!(
        html.contains(
            "<p class=\"verdict ok\"><b>OK</b> <span class=\"code\">exit code 0</span></p>"
        )
    );
    let card = headline_card(&html);
    assert!(card.starts_with("<div class=\"card wide ok\"><div class=\"k\">held at the end</div><div class=\"v\">20,000</div>"), "{card}");
    assert!(card.contains("of 20,000 target (100.0%)"), "{card}");
    assert!(
        card.contains("<div><dt>reached (most at once)</dt><dd>20,000</dd></div>"),
        "{card}"
    );
    assert!(
        card.contains("<div><dt>fewest held in the hold</dt><dd>20,000</dd></div>"),
        "{card}"
    );
    // The server side: four listeners, nothing waiting; every counter.
    assert!(html.contains("the server application had accepted 20,000 and 0 waited unaccepted"));
    assert!(html.contains("<td>127.0.1.1:18990</td><td>1</td><td>0</td>"));
    for name in ListenCounters::KEYS {
        assert!(html.contains(&format!("<code>{name}</code>")), "{name}");
    }
    assert!(!html.contains("Not in this report"));
}

#[test]
fn the_page_is_self_contained() {
    for name in FIXTURES {
        let html = page(&fixture(name));
        for bad in ["<script", "<link", "@import", "url(", "http://", "https://"] {
            let hits: Vec<_> = html
                .match_indices(bad)
                .filter(|(i, _)| !html[..*i].ends_with("xmlns=\""))
                .collect();
            assert!(hits.is_empty(), "{name}: {bad} in the page");
        }
        assert!(html.contains("prefers-color-scheme: dark"));
        assert!(html.contains("Content-Security-Policy"));
    }
}

#[test]
fn failures_are_drawn_by_cause_and_the_verdict_fails() {
    let html = page(&fixture("connect-mixed"));
    let svg = chart(&html, "errors").expect("no errors chart");
    assert!(svg.contains("client ECONNREFUSED"));
    assert!(svg.contains("<rect class=\"bar k5\""));
    assert!(html.contains(&esc(crate::cause::Cause::Refused.explain())));
    // A connect has no servers of its own: no server line.
    let conns = chart(&html, "connections").unwrap();
    assert!(conns.contains("clients&#39; established"));
    assert!(!conns.contains("servers&#39; established"));
    // Red, with the reason, at the top.
    assert!(html.contains("<p class=\"verdict bad\"><b>FAIL</b> <span class=\"code\">exit code 1</span> <span class=\"reason\">held 1,000 of 2,000 at the end: 1,000 failed to connect (1,000 ECONNREFUSED)</span></p>"));
    let card = headline_card(&html);
    assert!(card.starts_with("<div class=\"card wide bad\">"), "{card}");
    assert!(card.contains("<div class=\"v\">1,000</div>"), "{card}");
}

#[test]
fn a_server_that_writes_then_closes_is_shown_with_its_bytes() {
    let r = fixture("connect-redis-cap");
    let html = page(&r);
    // The bytes Redis sent, escaped once for the JSON and once for HTML.
    assert_eq!(
        r.closes.first_bytes.as_deref(),
        Some("-ERR max number of clients reached\\r\\n")
    );
    assert!(html.contains("&quot;-ERR max number of clients reached\\r\\n&quot;"));
    let closes = chart(&html, "closes").expect("no closes chart");
    assert!(closes.contains(">data, then FIN</text>"));
    assert!(closes.contains(">200</text>"));
    assert!(closes.contains("First bytes a server sent before closing"));
    // The closes over time are on the connections chart.
    let conns = chart(&html, "connections").unwrap();
    assert!(conns.contains("closed by the server (total)"));
    assert!(html.contains("<p class=\"verdict bad\">"));
    assert!(html.contains("<div class=\"k\">closed by the server</div><div class=\"v\">200</div>"));
    // Held at the end (Redis's 100), not the peak.
    assert_eq!(r.held.at_end, 100);
    let card = headline_card(&html);
    assert!(card.contains("<div class=\"v\">100</div>"), "{card}");
    let reached = format!("<dd>{}</dd>", thousands(r.held.reached));
    assert!(card.contains(&reached), "{card}");
    assert!(html.contains("100 of 300 connections held at the end"));
}

#[test]
fn a_capacity_search_shows_its_limit() {
    let r = fixture("find-limit");
    let html = page(&r);
    assert!(html.contains("limit: 100 connections held by the server (server-cap)"));
    assert!(html.contains("<div class=\"k\">limit found</div><div class=\"v\">100</div>"));
    assert!(html.contains("<p class=\"verdict ok\">"));
    let closes = chart(&html, "closes").expect("no closes chart");
    assert!(closes.contains(">RST</text>"));
    assert!(html.contains(&format!(
        "<div><dt>reached (most at once)</dt><dd>{}</dd></div>",
        thousands(r.held.reached)
    )));
    // No hold: no fewest-in-the-hold figure.
    assert!(!headline_card(&html).contains("fewest"));
}

/// The connections-at-the-end chart draws c1m's own client sockets and,
/// apart, every process's on the target.
#[test]
fn the_end_chart_sets_other_processes_connections_apart() {
    let html = page(&fixture("connect-others"));
    let svg = chart(&html, "at-end").expect("no at-end chart");
    assert!(
        svg.contains("c1m&#39;s client sockets ESTABLISHED"),
        "{svg}"
    );
    assert!(svg.contains("client side ESTABLISHED, every process&#39;s"));
    assert!(svg.contains(">1,000<") && svg.contains(">2,500<"), "{svg}");
    // Alone on its targets: one client bar, c1m's.
    let alone = page(&fixture("run-fanout"));
    let svg = chart(&alone, "at-end").unwrap();
    assert!(!svg.contains("every process"));
}

#[test]
fn a_serve_report_has_no_client_line() {
    let r = fixture("serve");
    let html = page(&r);
    let conns = chart(&html, "connections").expect("no connections chart");
    assert!(draws(conns));
    assert!(conns.contains("servers&#39; established"));
    assert!(!conns.contains("clients&#39; established"));
    assert!(html.contains("most held at once"));
    assert!(html.contains(&format!(
        "{} connections held at the end (most at once {}, cap 2,000)",
        thousands(r.held.at_end),
        thousands(r.held.reached)
    )));
    // Serve's hold starts with the listeners: its lowest sample is not a
    // figure of what it held, and the summary does not show it either.
    assert!(!headline_card(&html).contains("fewest"));
    // Four SO_REUSEPORT listeners on one address: one row.
    assert!(html.contains("<td>127.0.0.1:18994</td><td>4</td><td>0</td>"));
}

#[test]
fn heartbeats_get_a_latency_chart_and_card() {
    let html = page(&fixture("run-heartbeat"));
    let svg = chart(&html, "latency").expect("a latency chart");
    assert!(draws(svg));
    assert!(html.contains("Round trip over time"));
    assert!(html.contains("<div class=\"k\">round trip p99</div>"));
    assert!(html.contains("coordinated-omission-correct"));
    let idle = page(&fixture("run-fanout"));
    assert!(chart(&idle, "latency").is_none(), "no heartbeats, no chart");
}

#[test]
fn a_run_that_lost_a_worker_says_so() {
    let html = page(&fixture("run-worker-died"));
    assert!(html.contains("stopped: client worker 3"));
    assert!(html.contains("class=\"end bad\""));
    assert!(html.contains("<p class=\"verdict bad\">"));
    assert!(draws(chart(&html, "connections").unwrap()));
}

#[test]
fn connections_only_the_client_has_are_shown() {
    let mut r = fixture("run-fanout");
    // An accept queue full: phantoms, whatever the counters say.
    r.phantoms = Some(crate::report::judge::phantoms(
        15,
        r.listen_counters.as_ref(),
        true,
    ));
    let html = page(&r);
    assert!(html.contains("<div class=\"k\">only on the client</div><div class=\"v\">15</div>"));
    assert!(html.contains("<p class=\"caution bad\">15 connections exist only on the client"));
    assert!(
        chart(&html, "at-end")
            .unwrap()
            .contains(">only on the client</text>")
    );
}

#[test]
fn what_a_report_lacks_is_said() {
    let mut r = fixture("run-worker-died");
    r.memory = None;
    r.kernel.at_end = KernelCount::NotTaken;
    r.timeline.clear();
    let html = page(&r);
    assert!(html.contains("Not in this report"));
    assert!(html.contains("`memory` is null"));
    assert!(html.contains("`kernel.at_end` was not taken"));
    assert!(html.contains("No chart: no timeline samples"));
    assert!(html.contains("No chart: no memory measurement"));
}

#[test]
fn interrupted_runs_name_the_signal() {
    let mut r = fixture("run-fanout");
    r.end = End::Interrupted {
        signal: "SIGINT".into(),
        during: None,
    };
    let html = page(&r);
    assert!(html.contains("<p class=\"end warn\">interrupted by SIGINT</p>"));
}

/// Thresholds: a card with how many failed, a row each in the summary
/// (red when failed, its `<` escaped), the verdict's exit code.
#[test]
fn thresholds_are_shown_pass_and_fail() {
    let mut r = fixture("run-heartbeat");
    let ts = ["held<99.9%", "p99(rtt)>5ms"]
        .map(|t| crate::threshold::parse(t).unwrap())
        .to_vec();
    r.thresholds = crate::report::gate::judge(&crate::threshold::Gate::new(ts, false), &r);
    r.verdict = crate::report::judge::verdict(&r);
    let html = page(&r);
    assert!(html.contains(
        "<div class=\"card bad\"><div class=\"k\">thresholds</div><div class=\"v\">1 of 2 failed</div><div class=\"sub\">--fail-if p99(rtt)&gt;5ms</div>"
    ));
    assert!(html.contains("<tr class=\"good detail\"><th>held&lt;99.9%</th><td>pass: 2,000 of 2,000 (100%) held at the end"));
    assert!(html.contains("<tr class=\"bad detail\"><th>p99(rtt)&gt;5ms</th><td>FAIL (exit 4): p99(rtt) 5.4 ms over 12,093 round trips</td></tr>"));
    assert!(html.contains("<span class=\"code\">exit code 4</span>"));
    let end = End::Aborted {
        why: "--fail-if held<99.9% failed 2.0 s in: held was 50%".into(),
    };
    r.end = end;
    let html = page(&r);
    assert!(html.contains("<p class=\"end bad\">aborted: --fail-if held&lt;99.9% failed 2.0 s in"));
}

#[test]
fn text_from_the_report_is_escaped() {
    let mut r = fixture("connect-redis-cap");
    r.label = "<script>alert(1)</script>".into();
    r.workers.lost = vec!["a & b <i>".into()];
    r.closes.first_bytes = Some("<b>'hi'</b>".into());
    r.plan.warnings = vec!["x\"><svg onload=1>".into()];
    if let Some(m) = r.memory.as_mut() {
        m.slab_caches[0].name = "y\"><svg onload=2>".into();
    }
    let html = page(&r);
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("a &amp; b &lt;i&gt;"));
    assert!(html.contains("&lt;b&gt;&#39;hi&#39;&lt;/b&gt;"));
    assert!(!html.contains("<b>'hi'"));
    assert!(!html.contains("\"><svg onload"));
}

#[test]
fn escaping() {
    assert_eq!(esc("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
    assert_eq!(esc("µs × 2"), "µs × 2");
}

#[test]
fn slab_figures_polluted_by_other_sockets_are_flagged() {
    let mut r = fixture("run-fanout");
    assert!(!page(&r).contains("class=\"caution\""));
    // Something else closed 400,000 sockets during the run.
    let m = r.memory.as_mut().unwrap();
    let tcp = m.slab_caches.iter_mut().find(|c| c.name == "TCP").unwrap();
    tcp.objects = -360_000;
    let html = page(&r);
    assert!(html.contains("<p class=\"caution\">Caution: the TCP caches changed by -360,000 objects for 40,000 sockets"));
}
