use super::*;

fn spec() -> ClientWs {
    ClientWs {
        path: "/echo?x=1".into(),
        headers: vec![("Authorization".into(), "Bearer t".into())],
        heartbeat: Heartbeat::Text,
        names: vec![("127.0.0.5".parse().unwrap(), "gw.example".into())],
    }
}

#[test]
fn a_request_and_its_answer_round_trip_through_the_servers_side() {
    let ep: SocketAddr = "127.0.0.5:8443".parse().unwrap();
    let (req, accept) = spec().request(ep).unwrap();
    let text = String::from_utf8(req.clone()).unwrap();
    assert!(text.starts_with("GET /echo?x=1 HTTP/1.1\r\n"), "{text}");
    assert!(text.contains("Host: gw.example:8443\r\n"), "{text}");
    // Header names go as the http crate keeps them: lowercase.
    assert!(text.contains("authorization: Bearer t\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"));
    // Cut anywhere, the request waits for its end.
    for cut in 0..req.len() {
        assert!(answer(&req[..cut]).unwrap().is_none(), "cut at {cut}");
    }
    let (n, resp) = answer(&req).unwrap().unwrap();
    assert_eq!(n, req.len());
    let mut got = resp.clone();
    got.extend_from_slice(&[0x81, 0x01, b'x']);
    for cut in 0..resp.len() {
        assert_eq!(
            check_response(&got[..cut], &accept),
            Ok(None),
            "cut at {cut}"
        );
    }
    assert_eq!(check_response(&got, &accept), Ok(Some(resp.len())));
    assert!(matches!(
        check_response(&got, "not-the-key"),
        Err(Refused::Handshake(w)) if w.contains("does not answer the key")
    ));
    // Each request has a key of its own.
    assert_ne!(spec().request(ep).unwrap().1, accept);
}

#[test]
fn the_host_is_the_targets_name_or_address_unless_a_header_gives_it() {
    let s = spec();
    assert_eq!(s.host("127.0.0.5:80".parse().unwrap()), "gw.example:80");
    assert_eq!(s.host("127.0.0.6:80".parse().unwrap()), "127.0.0.6:80");
    assert_eq!(s.host("[::1]:80".parse().unwrap()), "[::1]:80");
    let mut s = spec();
    s.headers.push(("host".into(), "other:1".into()));
    let (req, _) = s.request("127.0.0.5:80".parse().unwrap()).unwrap();
    let text = String::from_utf8(req).unwrap();
    assert_eq!(text.matches("ost: ").count(), 1, "{text}");
    assert!(text.contains("other:1"), "{text}");
}

#[test]
fn refusals_by_status_and_by_what_is_wrong() {
    let r = |s: &str| check_response(s.as_bytes(), "k");
    assert_eq!(
        r("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
        Err(Refused::Status(403))
    );
    assert_eq!(r("HTTP/1.1 404 Not Found\r\n"), Ok(None), "not whole yet");
    assert!(matches!(
        r("SSH-2.0-OpenSSH\r\n\r\n"),
        Err(Refused::Handshake(_))
    ));
    assert!(matches!(
        r("HTTP/1.1 101 Switching\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: k\r\n\r\n"),
        Err(Refused::Handshake(w)) if w.contains("Upgrade: websocket")
    ));
    assert_eq!(
        r(
            "HTTP/1.1 101 S\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: k\r\n\r\n"
        ),
        Ok(Some(96))
    );
    let big = format!("HTTP/1.1 101 S\r\nX: {}", "a".repeat(MAX_HEAD));
    assert!(matches!(r(&big), Err(Refused::Handshake(_))));
    for s in [200, 301, 401, 403, 404, 426, 429, 502, 503, 599] {
        assert!(!status_words(s).is_empty());
    }
    assert_eq!(reason(403), "Forbidden");
}

#[test]
fn a_server_refuses_what_is_not_an_upgrade() {
    let (why, resp) = answer(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap_err();
    assert!(why.contains("not a WebSocket upgrade"), "{why}");
    assert!(resp.starts_with(b"HTTP/1.1 400 "));
    let (_, resp) = answer(b"\x16\x03\x01 garbage\r\n\r\n").unwrap_err();
    assert!(resp.starts_with(b"HTTP/1.1 400 "));
    let big = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD));
    let (_, resp) = answer(big.as_bytes()).unwrap_err();
    assert!(resp.starts_with(b"HTTP/1.1 431 "));
}

#[test]
fn flags_refuse_what_cannot_be_sent() {
    assert_eq!(parse_path("/ws?a=b").unwrap(), "/ws?a=b");
    for bad in ["ws", "", "/a b", "/\u{7f}"] {
        assert!(parse_path(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        parse_header("Origin: https://x").unwrap(),
        ("Origin".to_string(), "https://x".to_string())
    );
    for bad in [
        "NoColon",
        "Bad Name:x",
        ":x",
        "X:a\u{1}b",
        "Upgrade:h2c",
        "sec-websocket-key:x",
    ] {
        assert!(parse_header(bad).is_err(), "{bad:?}");
    }
}
