//! The HTML report of a real run, as a browser shows it: headless Chromium
//! (Debian's `chromium`, which ./test.sh installs) parses it, draws it, and
//! reports no console message.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
/// No Chromium call may take longer than this.
const CHROMIUM_LIMIT: Duration = Duration::from_secs(90);

/// Where the test leaves what it made: `target/test-artifacts/`.
fn artifacts() -> PathBuf {
    // The test binary is target/<profile>/deps/html_report-<hash>.
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap_or(Path::new("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Fails (never skips) without Chromium.
fn need_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run ./test.sh, which installs Debian's chromium package"
    );
}

struct Ran {
    stdout: String,
    stderr: String,
}

/// Runs Chromium headless on `page` with `args`, in a fresh profile, with
/// every background service off; killed (its whole process group) past
/// `CHROMIUM_LIMIT`.
fn chromium(page: &Path, args: &[&str]) -> Ran {
    use std::os::unix::process::CommandExt;
    need_chromium();
    let scratch = tempdir("chromium");
    let profile = scratch.join("profile");
    let (out, err) = (scratch.join("stdout"), scratch.join("stderr"));
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .process_group(0)
        .spawn()
        .expect("starting chromium");
    let deadline = Instant::now() + CHROMIUM_LIMIT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            // Chromium's own helpers are in its process group.
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish within {CHROMIUM_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let ran = Ran {
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
    };
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(
        status.success(),
        "chromium {args:?} failed ({status}):\n{}",
        ran.stderr
    );
    ran
}

fn tempdir(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("c1m-html-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `<figure>` with id `chart-{id}` in a DOM dump.
fn figure<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let start = dom.find(&format!("<figure id=\"chart-{id}\""))?;
    let rest = &dom[start..];
    Some(&rest[..rest.find("</figure>")?])
}

/// Whether a chart draws: an `<svg>` with a path with data, or a bar with
/// a width.
fn draws(fig: &str) -> bool {
    let Some(svg) = fig.find("<svg").map(|i| &fig[i..]) else {
        return false;
    };
    let path = svg.split("<path ").skip(1).any(|p| {
        p.split_once(" d=\"")
            .is_some_and(|(_, d)| d.starts_with('M') && d.len() > 10)
    });
    let bar = svg.split("<rect class=\"bar").skip(1).any(|r| {
        r.split_once("width=\"")
            .and_then(|(_, w)| w.split('"').next())
            .and_then(|w| w.parse::<f64>().ok())
            .is_some_and(|w| w > 0.0)
    });
    path || bar
}

/// Console lines in Chromium's log. Chromium logs every console message
/// (whatever its level) as `INFO:CONSOLE`, and the page has no script, so
/// any such line is an error: a Content-Security-Policy violation (the
/// page forbids every load and script) or a parse problem.
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// Reads a JSON report as c1m does (`c1m::report::read_json`).
fn read_report(path: &Path) -> c1m::report::model::Report {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    c1m::report::read_json(&text).unwrap_or_else(|e| panic!("{path:?}: {e:#}"))
}

fn render_to(r: &c1m::report::model::Report, path: &Path) {
    let html = c1m::report::html::render(r).expect("rendering the report");
    std::fs::write(path, html).unwrap();
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/reports/{name}.json"))
}

/// Takes a screenshot of `page` into `png`, and checks it is a PNG with
/// something on it.
fn screenshot(page: &Path, png: &Path, height: u32) {
    let _ = std::fs::remove_file(png);
    chromium(
        page,
        &[
            &format!("--screenshot={}", png.display()),
            &format!("--window-size=1280,{height}"),
        ],
    );
    let bytes = std::fs::read(png).expect("chromium wrote no screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 50_000,
        "the screenshot is {} bytes: a blank page?",
        bytes.len()
    );
    eprintln!("screenshot: {}", png.display());
}

#[test]
fn a_real_runs_report_in_chromium() {
    need_chromium();
    let _heavy = crate::util::heavy();
    let json = crate::util::report_path("html-report");
    let html = json.with_extension("html");
    crate::util::outcome::Outcome::run(
        "html-report",
        &[
            "run",
            "-n",
            "6000",
            "--rate",
            "3000",
            "--worker-conns",
            "2000",
            "--hold",
            "1s",
            "--ports",
            "8993",
            "--html",
            html.to_str().unwrap(),
        ],
    )
    .assert_code(0);
    // The saved report renders the page c1m wrote at the end of the run.
    let r = read_report(&json);
    let dir = artifacts();
    let page = dir.join("report.html");
    render_to(&r, &page);
    assert_eq!(
        std::fs::read_to_string(&page).unwrap(),
        std::fs::read_to_string(&html).expect("c1m run --html wrote no page"),
        "the page from the saved JSON differs from the one --html wrote"
    );

    // One Chromium dumps the DOM with its log on, another takes the
    // screenshot, at once (each a browser of its own, a fresh profile).
    let (ran, ()) = std::thread::scope(|s| {
        let shot = s.spawn(|| screenshot(&page, &dir.join("report.png"), 2400));
        let ran = chromium(&page, &["--enable-logging=stderr", "--v=0", "--dump-dom"]);
        (ran, shot.join().unwrap())
    });

    // (a) The DOM as Chromium parsed it: every chart draws, the verdict
    // and what was held at the end lead the page.
    let dom = &ran.stdout;
    assert!(dom.contains("</main>"), "no page in the DOM dump:\n{dom}");
    for id in ["connections", "rate", "at-end", "memory", "slab"] {
        let fig = figure(dom, id).unwrap_or_else(|| panic!("no {id} chart in the DOM"));
        assert!(draws(fig), "the {id} chart draws nothing:\n{fig}");
    }
    assert!(dom.contains("<p class=\"verdict ok\"><b>OK</b>"), "{dom}");
    assert!(
        dom.contains(
            "<div class=\"card wide ok\"><div class=\"k\">held at the end</div><div class=\"v\">6,000</div>"
        ),
        "{dom}"
    );

    // (b) The screenshot, kept for people to look at: checked above, a
    // PNG with something on it.

    // (c) No console message while Chromium loaded the page it dumped.
    let console = console_lines(&ran.stderr);
    assert!(
        console.is_empty(),
        "console messages:\n{}",
        console.join("\n")
    );
}

#[test]
fn failures_and_closes_in_chromium() {
    // Captured reports with failures (connect-mixed) and with a server
    // that wrote, then closed (connect-redis-cap).
    for (name, charts) in [
        (
            "connect-mixed",
            &["connections", "rate", "at-end", "memory", "slab", "errors"][..],
        ),
        (
            "connect-redis-cap",
            &["connections", "rate", "at-end", "closes", "latency"][..],
        ),
    ] {
        let page = artifacts().join(format!("report-{name}.html"));
        render_to(&read_report(&fixture(name)), &page);
        let ran = chromium(&page, &["--enable-logging=stderr", "--v=0", "--dump-dom"]);
        for id in charts {
            let fig = figure(&ran.stdout, id)
                .unwrap_or_else(|| panic!("{name}: no {id} chart in the DOM"));
            assert!(draws(fig), "{name}: the {id} chart draws nothing:\n{fig}");
        }
        assert!(ran.stdout.contains("<p class=\"verdict bad\"><b>FAIL</b>"));
        let console = console_lines(&ran.stderr);
        assert!(
            console.is_empty(),
            "{name}: console messages:\n{}",
            console.join("\n")
        );
        screenshot(&page, &page.with_extension("png"), 2800);
    }
}

#[test]
fn console_messages_are_caught() {
    // The check in (c) sees what it is meant to: a page breaking the
    // report's content security policy.
    let page = artifacts().join("csp-probe.html");
    let html = c1m::report::html::render(&read_report(&fixture("find-limit")))
        .unwrap()
        .replace("</main>", "<img src=\"missing.png\"></main>");
    std::fs::write(&page, html).unwrap();
    let log = chromium(&page, &["--enable-logging=stderr", "--v=0", "--dump-dom"]).stderr;
    assert!(
        console_lines(&log)
            .iter()
            .any(|l| l.contains("Content Security Policy")),
        "no CSP violation logged:\n{log}"
    );
}
