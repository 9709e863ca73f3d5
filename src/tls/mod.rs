//! TLS on c1m's connections, sans I/O: what a worker's TLS is made of
//! (the specs the supervisor sends: whom to trust, which names, ALPN,
//! resumption; a server's certificate and key), the rustls configurations
//! built from them once per worker, the certificate c1m makes for its own
//! servers (`cert.rs`), the verifier of `--insecure` (`verify.rs`), and
//! why a handshake failed, as a [`Cause`].
//!
//! The worker drives rustls' connections on its nonblocking sockets
//! inside its own epoll loop (`worker/tls.rs`): no thread or task per
//! connection. A TLS connection's state (rustls' `ClientConnection` or
//! `ServerConnection`: keys, the record layer's buffers, what is left of
//! the handshake) lives in a table of its own that exists only under
//! `--tls`; a plain TCP connection costs what it did without TLS.
//!
//! The crypto is rustls' *ring* provider: TLS 1.3 and 1.2, X25519 and
//! the NIST curves, AES-GCM and ChaCha20-Poly1305.

pub mod cert;
pub mod verify;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{AlertDescription, ClientConfig, Error as TlsError, RootCertStore, ServerConfig};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::cause::Cause;

/// The most TLS records a connection may have waiting to be sent
/// (rustls' `set_buffer_limit`), bytes: an echo server stops reading a
/// peer whose echoes wait beyond this, as it does for plain TCP once the
/// kernel takes no more (see `worker::rules`). A heartbeat needs a
/// record of its own length plus 22 bytes (TLS 1.3).
pub const BUFFER_LIMIT: usize = 32 * 1024;

/// Server names whose session tickets a client worker keeps (rustls'
/// in-memory cache; at most 8 TLS 1.3 tickets a name): shared by every
/// connection of the worker, never per connection.
pub const SESSION_NAMES: usize = 256;

/// Whom a client trusts to sign a server's certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trust {
    /// The system's roots: the certificates of the system's store
    /// (`/etc/ssl/certs` on Debian, through rustls-native-certs; the
    /// `SSL_CERT_FILE` and `SSL_CERT_DIR` variables override it).
    System,
    /// These certificates, PEM: `--ca FILE`'s, or the one c1m made for
    /// its own servers (`c1m run --tls`).
    Pem(String),
    /// Any certificate (`--insecure`): the server must still prove it
    /// holds the key of the certificate it shows ([`verify::AcceptAnyCertificate`]).
    Any,
}

/// A client worker's TLS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    /// Whom to trust.
    pub trust: Trust,
    /// The name sent in SNI and checked against every certificate
    /// (`--sni`); `None`: each endpoint's target name from [`Self::names`],
    /// or its address (no SNI is sent for an address, and the
    /// certificate must name the address).
    pub sni: Option<String>,
    /// The target names, by the address each resolved to: an endpoint's
    /// name is its address's.
    pub names: Vec<(IpAddr, String)>,
    /// ALPN protocols offered, in order (`--alpn`); empty: none.
    pub alpn: Vec<String>,
    /// Resume sessions (TLS 1.3 tickets, TLS 1.2 session IDs) from
    /// earlier connections of the same worker to the same name.
    pub resume: bool,
}

impl ClientTls {
    /// The name a connection to `endpoint` asks for and checks.
    pub fn server_name(&self, endpoint: SocketAddr) -> ServerName<'static> {
        let name = self.sni.as_deref().or_else(|| {
            self.names
                .iter()
                .find(|(ip, _)| *ip == endpoint.ip())
                .map(|(_, n)| n.as_str())
        });
        name.and_then(|n| ServerName::try_from(n.to_string()).ok())
            .unwrap_or(ServerName::IpAddress(endpoint.ip().into()))
    }

    /// How certificates are checked, in words for the report.
    pub fn words(&self) -> String {
        let trust = match &self.trust {
            Trust::System => "the system's roots".to_string(),
            Trust::Pem(pem) => match count_certs(pem) {
                1 => "the one certificate given".to_string(),
                n => format!("the {n} certificates given"),
            },
            Trust::Any => "any certificate (--insecure)".to_string(),
        };
        let name = match &self.sni {
            Some(n) => format!("--sni {n}"),
            None if self.names.is_empty() => "the target's address".to_string(),
            None => "the target's name".to_string(),
        };
        let alpn = match self.alpn.as_slice() {
            [] => String::new(),
            a => format!(", ALPN {}", a.join(",")),
        };
        let resume = if self.resume {
            "resumption on"
        } else {
            "resumption off (--no-resume)"
        };
        format!("trusting {trust}, checked against {name}; {resume}{alpn}")
    }
}

/// A server worker's TLS: its certificate chain and key, PEM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// Where the certificate comes from, in words for the report
    /// (`self-signed, made at start for localhost, 127.0.0.1`).
    pub about: String,
    /// The certificate chain, the server's own first.
    pub cert_pem: String,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: String,
}

/// Why a TLS configuration could not be made: one line each, naming
/// what is wrong.
#[derive(Debug, Error)]
pub enum SetupError {
    /// No certificate in a PEM text.
    #[error("{0}: no certificate in it; give a PEM file (-----BEGIN CERTIFICATE-----)")]
    NoCertificate(String),
    /// A PEM text that does not parse.
    #[error("{what}: {err}; give a PEM file")]
    Pem {
        /// What was read (`--ca FILE`, `--cert FILE`).
        what: String,
        /// The parser's words.
        err: String,
    },
    /// No private key in a PEM text.
    #[error("{0}: no private key in it; give the key as PEM (-----BEGIN PRIVATE KEY-----)")]
    NoKey(String),
    /// The system's store gave no certificate.
    #[error(
        "no trusted root certificate in the system's store ({0}): install ca-certificates, or give --ca FILE (or --insecure for a test server)"
    )]
    NoSystemRoots(String),
    /// rustls refused the configuration (a key that does not match the
    /// certificate, a certificate it cannot use).
    #[error("{what}: {err}; check that the files hold a certificate and its own key")]
    Rustls {
        /// What was being set up.
        what: String,
        /// rustls' words.
        err: TlsError,
    },
}

/// rustls' *ring* provider, the one c1m uses everywhere.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How many certificates a PEM text holds (those that parse).
pub fn count_certs(pem: &str) -> usize {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter(Result::is_ok)
        .count()
}

/// The certificates of a PEM text (`what` names it in errors); at least
/// one.
pub fn certs_of(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, SetupError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SetupError::Pem {
            what: what.to_string(),
            err: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(SetupError::NoCertificate(what.to_string()));
    }
    Ok(certs)
}

/// The private key of a PEM text (`what` names it in errors).
pub fn key_of(pem: &str, what: &str) -> Result<PrivateKeyDer<'static>, SetupError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => SetupError::NoKey(what.to_string()),
        e => SetupError::Pem {
            what: what.to_string(),
            err: e.to_string(),
        },
    })
}

/// A root store of the certificates of a PEM text.
fn roots_of(pem: &str, what: &str) -> Result<RootCertStore, SetupError> {
    let mut roots = RootCertStore::empty();
    for c in certs_of(pem, what)? {
        roots.add(c).map_err(|err| SetupError::Rustls {
            what: what.to_string(),
            err,
        })?;
    }
    Ok(roots)
}

/// The system's roots, and how many of its certificates could not be
/// used (some stores carry expired or malformed ones).
pub fn system_roots() -> Result<(RootCertStore, usize), SetupError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = match found.errors.first() {
            Some(e) => e.to_string(),
            None => "it is empty".to_string(),
        };
        return Err(SetupError::NoSystemRoots(why));
    }
    Ok((roots, ignored))
}

/// A client worker's configuration, made once and shared by all its
/// connections.
pub fn client_config(spec: &ClientTls) -> Result<Arc<ClientConfig>, SetupError> {
    let provider = provider();
    let rustls = |err| SetupError::Rustls {
        what: "the TLS client's configuration".to_string(),
        err,
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(rustls)?;
    let mut config = match &spec.trust {
        Trust::Any => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verify::AcceptAnyCertificate::new(provider)))
            .with_no_client_auth(),
        Trust::System => builder
            .with_root_certificates(system_roots()?.0)
            .with_no_client_auth(),
        Trust::Pem(pem) => builder
            .with_root_certificates(roots_of(pem, "--ca")?)
            .with_no_client_auth(),
    };
    config.alpn_protocols = spec.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    config.resumption = if spec.resume {
        Resumption::in_memory_sessions(SESSION_NAMES)
    } else {
        Resumption::disabled()
    };
    Ok(Arc::new(config))
}

/// A server worker's configuration, made once and shared by all its
/// connections. Session resumption is by stateless tickets (rustls'
/// *ring* ticketer, its key this process's own): the server keeps
/// nothing per session. A ticket made by one server worker does not
/// resume at another (a full handshake follows).
pub fn server_config(spec: &ServerTls) -> Result<Arc<ServerConfig>, SetupError> {
    let certs = certs_of(&spec.cert_pem, "--cert")?;
    let key = key_of(&spec.key_pem, "--key")?;
    let rustls = |err| SetupError::Rustls {
        what: "--cert and --key".to_string(),
        err,
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(rustls)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(rustls)?;
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(rustls)?;
    Ok(Arc::new(config))
}

/// The cause a handshake's failure counts under.
pub fn cause_of(e: &TlsError) -> Cause {
    match e {
        TlsError::InvalidCertificate(_)
        | TlsError::NoCertificatesPresented
        | TlsError::InvalidCertRevocationList(_)
        | TlsError::UnsupportedNameType => Cause::TlsCertificate,
        TlsError::PeerIncompatible(_)
        | TlsError::AlertReceived(AlertDescription::ProtocolVersion) => Cause::TlsVersion,
        TlsError::AlertReceived(_) => Cause::TlsAlert,
        _ => Cause::TlsOther,
    }
}

/// A failure in words for the report's example: rustls' own (`invalid
/// peer certificate: UnknownIssuer`), at most 200 bytes.
pub fn words_of(e: &TlsError) -> String {
    let mut s = e.to_string();
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// An ALPN protocol list as `--alpn` takes it: comma-separated protocol
/// names (`h2,http/1.1`), each 1 to 255 printable ASCII characters other
/// than a comma or a space (RFC 7301's registered names are).
pub fn parse_alpn(text: &str) -> Result<Vec<String>, String> {
    use crate::plan::addr::{ListError, list_items};
    let names: Vec<String> = match list_items(text) {
        Ok(items) => items.into_iter().map(str::to_string).collect(),
        Err(ListError::EmptyItem { why, without }) => {
            return Err(format!(
                "ALPN list {:?} has an empty item ({why}); write {without:?}",
                text.trim()
            ));
        }
        Err(ListError::Empty) => vec![String::new()],
    };
    for n in &names {
        if n.is_empty() || n.len() > 255 || !n.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
            return Err(format!(
                "{text:?}: ALPN protocols are names of 1 to 255 printable characters, comma-separated (e.g. h2,http/1.1)"
            ));
        }
    }
    Ok(names)
}

/// A server name as `--sni` takes it: a DNS name (`example.com`).
pub fn parse_sni(text: &str) -> Result<String, String> {
    let t = text.trim();
    match ServerName::try_from(t) {
        Ok(ServerName::DnsName(_)) => Ok(t.to_string()),
        _ => Err(format!(
            "{text:?} is not a DNS name; give the name the server's certificate is for (e.g. example.com)"
        )),
    }
}

#[cfg(test)]
mod tests;
