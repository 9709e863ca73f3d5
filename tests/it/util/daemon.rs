//! Real servers the tests start (nginx, HAProxy, Redis, an echo server on
//! python3-websockets), from Debian's packages that ./test.sh installs:
//! the process, killed with its process group when dropped; the
//! directory and certificate they are given; nginx from a configuration.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::peers::LONG;
use super::{truth, wait_listening_on};

/// A server process the test started, killed (and reaped) when dropped,
/// with its process group when it leads one: nginx's workers outlive a
/// master killed alone (ppid 1, still listening with SO_REUSEPORT beside
/// the next test's nginx, which then answers with another certificate),
/// so [`start_nginx`] gives nginx a group of its own.
pub struct Daemon(pub Child);

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// The server's processes: whose sockets are the truth.
    pub fn pids(&self) -> Vec<u32> {
        truth::process_tree(self.0.id())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A child that leads no group has none of that number (its pid
        // is still its own until reaped below): kill(1) then fails.
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Fails the test, saying how to install it, when `path` is missing.
#[track_caller]
pub fn require(path: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: run ./test.sh, which installs the servers the tests use"
    );
}

/// An empty directory of the test process's own for a server's files
/// (`c1m-NAME-PID` in the temporary directory).
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("c1m-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A certificate and key made with c1m's own maker (rcgen), self-signed,
/// for `names`, written to `dir` as `cert.pem` and `key.pem`.
pub fn cert_files(dir: &Path, names: &[&str]) -> (PathBuf, PathBuf) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let t = c1m::tls::cert::self_signed(&names).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, t.cert_pem).unwrap();
    std::fs::write(&key, t.key_pem).unwrap();
    (cert, key)
}

/// nginx (Debian's, in the foreground, in a process group of its own)
/// with `conf` written to `dir/nginx.conf` and `dir` its prefix, once it
/// listens on every address of `listening`.
pub fn start_nginx(dir: &Path, conf: &str, listening: &[SocketAddr]) -> Daemon {
    require("/usr/sbin/nginx");
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let d = dir.display();
    let child = Command::new("/usr/sbin/nginx")
        .args(["-c", &format!("{d}/nginx.conf"), "-p", &d.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("starting nginx");
    let n = Daemon(child);
    for &addr in listening {
        wait_listening_on(addr, LONG);
    }
    n
}
