use super::*;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn enc(v: Version, src: &str, dst: &str) -> Vec<u8> {
    let mut out = Vec::new();
    encode(v, sa(src), sa(dst), &mut out).unwrap();
    out
}

#[test]
fn v1_is_the_specs_text_line() {
    assert_eq!(
        enc(Version::V1, "192.0.2.1:41234", "198.51.100.7:8090"),
        b"PROXY TCP4 192.0.2.1 198.51.100.7 41234 8090\r\n"
    );
    assert_eq!(
        enc(Version::V1, "[2001:db8::1]:65535", "[::1]:1"),
        b"PROXY TCP6 2001:db8::1 ::1 65535 1\r\n"
    );
    // The longest TCP6 line is 104 bytes; the spec's 107 is `UNKNOWN`
    // with the same fields, which a receiver must take too.
    let full = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535";
    assert_eq!(enc(Version::V1, full, full).len(), 104);
    let unknown = format!(
        "PROXY UNKNOWN {0} {0} 65535 65535\r\n",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    );
    assert_eq!(unknown.len(), V1_MAX);
    assert_eq!(
        parse(Version::V1, unknown.as_bytes()),
        Parsed::Whole(Header {
            len: V1_MAX,
            addresses: None
        })
    );
}

#[test]
fn v2_is_the_specs_byte_layout() {
    let h = enc(Version::V2, "192.0.2.1:41234", "198.51.100.7:8090");
    let mut want = V2_SIGNATURE.to_vec();
    // Version 2, command PROXY; AF_INET, STREAM; 12 bytes follow.
    want.extend([0x21, 0x11, 0x00, 12]);
    want.extend([192, 0, 2, 1, 198, 51, 100, 7]);
    want.extend(41234u16.to_be_bytes());
    want.extend(8090u16.to_be_bytes());
    assert_eq!(h, want);
    assert_eq!(h.len(), 28);

    let h = enc(Version::V2, "[2001:db8::1]:1", "[::1]:65535");
    let mut want = V2_SIGNATURE.to_vec();
    // AF_INET6, STREAM; 36 bytes follow.
    want.extend([0x21, 0x21, 0x00, 36]);
    want.extend(
        "2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    want.extend(std::net::Ipv6Addr::LOCALHOST.octets());
    want.extend([0, 1, 0xff, 0xff]);
    assert_eq!(h, want);
    assert_eq!(h.len(), 52);
}

#[test]
fn a_header_is_written_after_what_is_there_and_one_family_only() {
    let mut out = b"x".to_vec();
    encode(Version::V1, sa("127.0.0.1:1"), sa("127.0.0.2:2"), &mut out).unwrap();
    assert_eq!(out, b"xPROXY TCP4 127.0.0.1 127.0.0.2 1 2\r\n");
    for v in [Version::V1, Version::V2] {
        let mut out = Vec::new();
        assert_eq!(
            encode(v, sa("127.0.0.1:1"), sa("[::1]:2"), &mut out),
            Err(EncodeError::MixedFamilies)
        );
        assert!(out.is_empty());
        // A dual-stack socket's IPv4-mapped address is IPv4.
        assert_eq!(
            enc(v, "[::ffff:127.0.0.1]:1", "127.0.0.2:2"),
            enc(v, "127.0.0.1:1", "127.0.0.2:2")
        );
    }
}

#[test]
fn what_is_written_parses_back_whole_with_what_follows_left() {
    for v in [Version::V1, Version::V2] {
        for (src, dst) in [
            ("192.0.2.1:41234", "198.51.100.7:8090"),
            ("10.255.255.254:1", "127.0.0.1:65535"),
            ("[2001:db8::1]:443", "[2001:db8::2]:8443"),
        ] {
            let h = enc(v, src, dst);
            let mut stream = h.clone();
            stream.extend_from_slice(b"c1m heartbeat.\r\n");
            let want = Header {
                len: h.len(),
                addresses: Some((sa(src), sa(dst))),
            };
            assert_eq!(parse(v, &stream), Parsed::Whole(want), "{v:?} {src}");
            // However few of its bytes came so far, it is the start of one.
            for n in 0..h.len() {
                assert_eq!(parse(v, &h[..n]), Parsed::Incomplete, "{v:?} {n}");
            }
        }
    }
}

#[test]
fn unknown_and_local_are_taken_without_addresses() {
    assert_eq!(
        parse(Version::V1, b"PROXY UNKNOWN\r\nhello"),
        Parsed::Whole(Header {
            len: 15,
            addresses: None
        })
    );
    let mut local = V2_SIGNATURE.to_vec();
    local.extend([0x20, 0x00, 0x00, 0x00]);
    assert_eq!(
        parse(Version::V2, &local),
        Parsed::Whole(Header {
            len: 16,
            addresses: None
        })
    );
}

#[test]
fn malformed_headers_are_told_apart() {
    use Malformed::*;
    let m = |v, b: &[u8]| parse(v, b);
    assert_eq!(
        m(Version::V1, b"GET / HTTP/1.1\r\n"),
        Parsed::Malformed(NotAHeader)
    );
    assert_eq!(
        m(Version::V2, b"c1m heartbeat.\r\n"),
        Parsed::Malformed(NotAHeader)
    );
    let v2 = enc(Version::V2, "127.0.0.1:1", "127.0.0.2:2");
    let v1 = enc(Version::V1, "127.0.0.1:1", "127.0.0.2:2");
    assert_eq!(
        m(Version::V1, &v2),
        Parsed::Malformed(OtherVersion(Version::V2))
    );
    assert_eq!(
        m(Version::V2, &v1),
        Parsed::Malformed(OtherVersion(Version::V1))
    );
    // No end of line within 107 bytes.
    let mut long = b"PROXY TCP4 ".to_vec();
    long.resize(V1_MAX, b'1');
    assert_eq!(m(Version::V1, &long[..V1_MAX - 1]), Parsed::Incomplete);
    assert_eq!(m(Version::V1, &long), Parsed::Malformed(TooLong));
    for bad in [
        &b"PROXY TCP4 300.0.0.1 127.0.0.1 1 2\r\n"[..],
        b"PROXY TCP4 127.0.0.1 127.0.0.1 1 65536\r\n",
        b"PROXY TCP4 ::1 ::1 1 2\r\n",
        b"PROXY UDP4 127.0.0.1 127.0.0.1 1 2\r\n",
        b"PROXY \xff\r\n",
    ] {
        assert_eq!(m(Version::V1, bad), Parsed::Malformed(Invalid), "{bad:?}");
    }
    // A length past what a server takes, and a bad version nibble.
    let mut big = V2_SIGNATURE.to_vec();
    big.extend([0x21, 0x11, 0xff, 0xff]);
    assert_eq!(m(Version::V2, &big), Parsed::Malformed(TooLong));
    let mut wrong = v2.clone();
    wrong[12] = 0x31;
    assert_eq!(m(Version::V2, &wrong), Parsed::Malformed(Invalid));
    // A length too short for the family's addresses.
    let mut short = v2;
    short[15] = 4;
    assert_eq!(m(Version::V2, &short[..20]), Parsed::Malformed(Invalid));
}

#[test]
fn no_bytes_make_the_parser_panic() {
    let seeds = [
        enc(Version::V1, "192.0.2.1:41234", "198.51.100.7:8090"),
        enc(Version::V2, "192.0.2.1:41234", "198.51.100.7:8090"),
        enc(Version::V2, "[2001:db8::1]:1", "[::1]:65535"),
    ];
    let mut rng = fastrand::Rng::with_seed(14);
    for _ in 0..50_000 {
        let mut b = seeds[rng.usize(..seeds.len())].clone();
        for _ in 0..rng.usize(1..4) {
            let i = rng.usize(..b.len());
            match rng.u8(..3) {
                0 => b[i] = rng.u8(..),
                1 => b.truncate(i),
                _ => b.insert(i, rng.u8(..)),
            }
            if b.is_empty() {
                break;
            }
        }
        for v in [Version::V1, Version::V2] {
            if let Parsed::Whole(h) = parse(v, &b) {
                assert!(h.len <= b.len());
            }
        }
    }
}

#[test]
fn sources_are_runs_taken_in_turn() {
    // 10.0.0.0/12 less its network and broadcast addresses, then two.
    let mut ips: Vec<IpAddr> = (1..(1u32 << 20) - 1)
        .map(|n| IpAddr::V4((0x0a00_0000 + n).into()))
        .collect();
    ips.extend(["192.0.2.7", "192.0.2.9"].map(|a| a.parse::<IpAddr>().unwrap()));
    let s = Sources::new(&ips).unwrap();
    assert_eq!(s.runs.len(), 3, "a block is one run");
    assert_eq!(s.len(), ips.len() as u64);
    for k in [0, 1, 1000, 1_048_573, 1_048_574, 1_048_575] {
        assert_eq!(s.nth(k), ips[k as usize % ips.len()], "{k}");
    }
    assert_eq!(s.nth(ips.len() as u64), ips[0], "from the first again");
    assert_eq!(s.families(), (true, false));
    assert!(Sources::new(&[]).is_none());
    let base = u128::from("2001:db8::".parse::<std::net::Ipv6Addr>().unwrap());
    let v6: Vec<IpAddr> = (0..65536u128)
        .map(|n| IpAddr::V6((base + n).into()))
        .collect();
    let s = Sources::new(&v6).unwrap();
    assert_eq!((s.runs.len(), s.nth(65535)), (1, v6[65535]));
    // The spec a worker gets stays small.
    let json = serde_json::to_string(&Sources::new(&ips).unwrap()).unwrap();
    assert!(json.len() < 200, "{json}");
}

/// What the crate's encoding costs per header (printed, not asserted:
/// the module's docs quote it).
#[test]
fn encoding_cost() {
    let n = 200_000u32;
    let mut out = Vec::with_capacity(128);
    for v in [Version::V1, Version::V2] {
        let t = std::time::Instant::now();
        for i in 0..n {
            out.clear();
            let src = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 40000));
            encode(v, src, sa("127.0.0.1:8090"), &mut out).unwrap();
            std::hint::black_box(&out);
        }
        let per = t.elapsed().as_secs_f64() / f64::from(n) * 1e6;
        println!("{v:?}: {per:.3} µs a header");
    }
}
