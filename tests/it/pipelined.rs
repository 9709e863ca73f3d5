//! Pipelined heartbeats (`--expect` equal to `--message`: an echo)
//! against a server that is not c1m's: a Python asyncio echo server,
//! written here, that holds each echo back for longer than two
//! heartbeat intervals, so every connection has several sends
//! outstanding at once. The server counts for itself what arrived, what
//! it echoed and the most sends it saw outstanding on one connection;
//! c1m's figures are checked against those counts.
//!
//! Address: 127.0.11.1:18190.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::outcome::Outcome;
use crate::util::*;

const LISTEN: (&str, u16) = ("127.0.11.1", 18190);
/// Connections, and the heartbeat's interval and message (16 bytes).
const CONNS: u64 = 200;
const INTERVAL_MS: u64 = 200;
const MESSAGE: &[u8] = b"ping-0123456789\n";
/// How long the server holds each echo back: more than two intervals.
const DELAY_MS: u64 = 450;

/// The server: echoes each 16-byte message `DELAY_MS` after it came;
/// after every close it prints `open received echoed most_outstanding`
/// (messages), flushed.
const SERVER: &str = r#"
import asyncio, sys
host, port, size, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
state = {"open": 0, "received": 0, "echoed": 0, "most": 0}
def report():
    print(state["open"], state["received"], state["echoed"], state["most"], flush=True)
async def conn(reader, writer):
    state["open"] += 1
    loop = asyncio.get_running_loop()
    outstanding = [0]
    def echo(msg):
        outstanding[0] -= 1
        if not writer.is_closing():
            writer.write(msg)
            state["echoed"] += 1
    try:
        while True:
            msg = await reader.readexactly(size)
            state["received"] += 1
            outstanding[0] += 1
            state["most"] = max(state["most"], outstanding[0])
            loop.call_later(delay, echo, msg)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    state["open"] -= 1
    writer.close()
    report()
async def main():
    server = await asyncio.start_server(conn, host, port, backlog=1024)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"#;

struct Echo(Child);

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The server's last line: (open, received, echoed, most outstanding).
fn last_counts(lines: &[String]) -> Option<(u64, u64, u64, u64)> {
    let w: Vec<u64> = lines
        .last()?
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    (w.len() == 4).then(|| (w[0], w[1], w[2], w[3]))
}

#[test]
fn pipelined_heartbeats_to_a_slow_echo_server_send_on_schedule_and_match_every_echo() {
    let _g = heavy();
    let mut child = Command::new("python3")
        .args([
            "-c",
            SERVER,
            LISTEN.0,
            &LISTEN.1.to_string(),
            &MESSAGE.len().to_string(),
            &(DELAY_MS as f64 / 1000.0).to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let _server = Echo(child);
    assert_eq!(
        lines.next().and_then(Result::ok).as_deref(),
        Some("listening")
    );
    let target = format!("{}:{}", LISTEN.0, LISTEN.1);
    let message = std::str::from_utf8(MESSAGE).unwrap().replace('\n', "\\n");
    let o = Outcome::run(
        "pipelined",
        &[
            "connect",
            &target,
            "-n",
            &CONNS.to_string(),
            "--mode",
            "heartbeat",
            "--interval",
            &format!("{INTERVAL_MS}ms"),
            "--message",
            &message,
            "--expect",
            &message,
            "--hold",
            "3s",
        ],
    );
    o.assert_exit(0);
    // Every connection closed: the server's own counts are final.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < CONNS as usize && Instant::now() < deadline {
        match lines.next() {
            Some(Ok(l)) => seen.push(l),
            _ => break,
        }
    }
    let (open, received, echoed, most) = last_counts(&seen).expect("the server's counts");
    assert_eq!(open, 0, "every connection closed{}", o.context());

    let sent = o.u64("clients.sent");
    let replies = o.u64("clients.replies");
    // What c1m says it sent is what arrived, message for message.
    assert_eq!(sent, received, "sent vs the server's count{}", o.context());
    // Sends went out while replies were outstanding: the server saw
    // more than one at once on a connection, and c1m skipped none.
    assert!(most >= 2, "at most {most} outstanding{}", o.context());
    assert_eq!(o.u64("clients.late"), 0, "{}", o.context());
    // Every reply is a whole echo, matched in order; none is counted
    // that the server did not send.
    assert_eq!(o.u64("clients.mismatched"), 0, "{}", o.context());
    assert!(
        replies > 0 && replies <= echoed,
        "{replies} replies, {echoed} echoed"
    );
    // What never came back is lost, not dropped from the count: each
    // scheduled send is a reply or a loss, and one latency sample.
    assert_eq!(replies + o.u64("clients.lost"), sent, "{}", o.context());
    assert_eq!(o.u64("latency.rtt.count"), sent, "{}", o.context());
    // No reply can come sooner than the server's delay after its send's
    // scheduled time (HdrHistogram's 1% resolution aside).
    let p50_us = o.u64("latency.rtt.p50");
    assert!(p50_us >= DELAY_MS * 1000 * 99 / 100, "p50 {p50_us} µs");
}
