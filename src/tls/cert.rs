//! The certificate c1m makes for its own servers (`serve --tls` without
//! `--cert`, `run --tls`): self-signed, made at start with rcgen, ECDSA
//! P-256 (the cheapest signature for the server's side of a handshake),
//! for `localhost` and the addresses the servers listen on. Every server
//! worker of one run presents the same one; `run`'s clients trust
//! exactly it, so their handshakes verify a real chain.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

use super::ServerTls;

/// The certificate's common name.
pub const COMMON_NAME: &str = "c1m serve (self-signed)";

/// The names a certificate for servers listening on `listen` is made
/// for: `localhost` and every address, an unspecified address (`0.0.0.0`,
/// `::`) standing for the loopback ones; each once, in order.
pub fn names_for(listen: &[IpAddr]) -> Vec<String> {
    let mut names = vec!["localhost".to_string()];
    for ip in listen {
        let shown: Vec<IpAddr> = match ip {
            IpAddr::V4(v) if v.is_unspecified() => vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            IpAddr::V6(v) if v.is_unspecified() => vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ],
            ip => vec![*ip],
        };
        for s in shown {
            let s = s.to_string();
            if !names.contains(&s) {
                names.push(s);
            }
        }
    }
    names
}

/// A new self-signed certificate and its key for `names` (DNS names and
/// addresses), PEM.
pub fn self_signed(names: &[String]) -> anyhow::Result<ServerTls> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names.to_vec())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, COMMON_NAME);
    params.distinguished_name = dn;
    let cert = params.self_signed(&key)?;
    Ok(ServerTls {
        about: format!(
            "a self-signed certificate made at start (ECDSA P-256) for {}",
            names.join(", ")
        ),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}
