use std::net::SocketAddr;

use rustls::{ClientConnection, ServerConnection};

use super::*;

fn client(trust: Trust) -> ClientTls {
    ClientTls {
        trust,
        sni: None,
        names: vec![],
        alpn: vec![],
        resume: true,
    }
}

/// Runs a handshake in memory, both ends' bytes handed over whole;
/// returns the first error and which end saw it (true: the client).
fn handshake(c: &mut ClientConnection, s: &mut ServerConnection) -> Result<(), (bool, TlsError)> {
    for _ in 0..20 {
        let mut wire = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut wire).unwrap();
        }
        if !wire.is_empty() {
            s.read_tls(&mut wire.as_slice()).unwrap();
            s.process_new_packets().map_err(|e| (false, e))?;
        }
        let mut back = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut back).unwrap();
        }
        if !back.is_empty() {
            c.read_tls(&mut back.as_slice()).unwrap();
            c.process_new_packets().map_err(|e| (true, e))?;
        }
        if !c.is_handshaking() && !s.is_handshaking() {
            return Ok(());
        }
    }
    panic!("the handshake did not end");
}

fn pair(trust: Trust, name: &str) -> (ClientConnection, ServerConnection) {
    let server = cert::self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap();
    let trust = match trust {
        Trust::Pem(p) if p.is_empty() => Trust::Pem(server.cert_pem.clone()),
        t => t,
    };
    let mut spec = client(trust);
    let to: SocketAddr = "127.0.0.1:8443".parse().unwrap();
    if !name.is_empty() {
        spec.sni = Some(name.to_string());
    }
    let c = ClientConnection::new(client_config(&spec).unwrap(), spec.server_name(to)).unwrap();
    let s = ServerConnection::new(server_config(&server).unwrap()).unwrap();
    (c, s)
}

#[test]
fn a_client_trusting_c1ms_certificate_connects_by_name_and_by_address() {
    for name in ["localhost", ""] {
        let (mut c, mut s) = pair(Trust::Pem(String::new()), name);
        handshake(&mut c, &mut s).unwrap();
        assert_eq!(c.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    }
}

#[test]
fn a_certificate_for_another_name_or_from_another_issuer_is_a_certificate_failure() {
    let (mut c, mut s) = pair(Trust::Pem(String::new()), "example.com");
    let (client_side, e) = handshake(&mut c, &mut s).unwrap_err();
    assert!(client_side, "{e}");
    assert_eq!(cause_of(&e), Cause::TlsCertificate, "{e}");
    // The client's alert reaches the server as an alert.
    let mut alert = Vec::new();
    while c.wants_write() {
        c.write_tls(&mut alert).unwrap();
    }
    s.read_tls(&mut alert.as_slice()).unwrap();
    let e = s.process_new_packets().unwrap_err();
    assert_eq!(cause_of(&e), Cause::TlsAlert, "{e}");

    // Another c1m's certificate: the same subject, another key.
    let other = cert::self_signed(&["localhost".into()]).unwrap();
    let (mut c, mut s) = pair(Trust::Pem(other.cert_pem), "localhost");
    let (_, e) = handshake(&mut c, &mut s).unwrap_err();
    assert_eq!(cause_of(&e), Cause::TlsCertificate, "{e}");
    assert!(words_of(&e).contains("BadSignature"), "{}", words_of(&e));
}

#[test]
fn insecure_accepts_any_certificate_but_still_checks_the_signature() {
    let (mut c, mut s) = pair(Trust::Any, "example.com");
    handshake(&mut c, &mut s).unwrap();
}

#[test]
fn causes_of_rustls_errors() {
    use rustls::PeerIncompatible;
    assert_eq!(
        cause_of(&TlsError::PeerIncompatible(
            PeerIncompatible::ServerDoesNotSupportTls12Or13
        )),
        Cause::TlsVersion
    );
    assert_eq!(
        cause_of(&TlsError::AlertReceived(AlertDescription::ProtocolVersion)),
        Cause::TlsVersion
    );
    assert_eq!(
        cause_of(&TlsError::AlertReceived(AlertDescription::HandshakeFailure)),
        Cause::TlsAlert
    );
    assert_eq!(cause_of(&TlsError::DecryptError), Cause::TlsOther);
    assert_eq!(
        cause_of(&TlsError::NoCertificatesPresented),
        Cause::TlsCertificate
    );
}

#[test]
fn names_alpn_and_sni() {
    let ips: Vec<IpAddr> = vec!["0.0.0.0".parse().unwrap(), "127.0.1.2".parse().unwrap()];
    assert_eq!(
        cert::names_for(&ips),
        vec!["localhost", "127.0.0.1", "127.0.1.2"]
    );
    assert_eq!(
        parse_alpn("h2,http/1.1"),
        Ok(vec!["h2".to_string(), "http/1.1".to_string()])
    );
    for bad in ["", "h2,", "has space", "a\nb"] {
        assert!(parse_alpn(bad).is_err(), "{bad:?}");
    }
    // A comma list's empty item, as every list flag says it.
    assert_eq!(
        parse_alpn("h2,,http/1.1"),
        Err("ALPN list \"h2,,http/1.1\" has an empty item (two commas in a row); write \"h2,http/1.1\"".to_string())
    );
    assert_eq!(parse_sni("example.com"), Ok("example.com".to_string()));
    for bad in ["", "127.0.0.1", "has space", "a\nb"] {
        assert!(parse_sni(bad).is_err(), "{bad:?}");
    }
    let mut spec = client(Trust::System);
    spec.names = vec![("10.0.0.5".parse().unwrap(), "db-1".into())];
    let name = |s: &ClientTls, to: &str| s.server_name(to.parse().unwrap()).to_str().to_string();
    assert_eq!(name(&spec, "10.0.0.5:443"), "db-1");
    assert_eq!(name(&spec, "10.0.0.6:443"), "10.0.0.6");
    spec.sni = Some("example.com".into());
    assert_eq!(name(&spec, "10.0.0.6:443"), "example.com");
}

#[test]
fn pem_errors_name_what_was_read() {
    let e = certs_of("not pem", "--ca /tmp/x").unwrap_err().to_string();
    assert!(e.starts_with("--ca /tmp/x: no certificate"), "{e}");
    let e = key_of("", "--key k.pem").unwrap_err().to_string();
    assert!(e.contains("no private key"), "{e}");
}
