//! Sysctls read from `<proc root>/sys/…`, by their dotted names.

use std::io;
use std::path::{Path, PathBuf};

/// The file behind a dotted sysctl name: `net.ipv4.ip_local_port_range`
/// under `/proc` is `/proc/sys/net/ipv4/ip_local_port_range`.
pub fn path(proc_root: &Path, name: &str) -> PathBuf {
    let mut p = proc_root.join("sys");
    for part in name.split('.') {
        p.push(part);
    }
    p
}

/// Reads a sysctl's value as text, trimmed.
///
/// Errors: `NotFound` for a sysctl this kernel (or, for `net.*`, this
/// network namespace) does not have; `PermissionDenied` for a write-only
/// or root-only one.
pub fn read(proc_root: &Path, name: &str) -> io::Result<String> {
    let text = std::fs::read_to_string(path(proc_root, name))?;
    Ok(text.trim().to_string())
}

/// Reads a sysctl holding whitespace-separated unsigned numbers
/// (`fs.nr_open`, `net.ipv4.ip_local_port_range`, `net.ipv4.tcp_mem` in
/// pages), in file order.
///
/// Errors: those of [`read`]; `InvalidData` if the value is empty or any
/// word is not an unsigned number.
pub fn read_numbers(proc_root: &Path, name: &str) -> io::Result<Vec<u64>> {
    let text = read(proc_root, name)?;
    parse_numbers(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("sysctl {name}: {text:?} is not a list of numbers"),
        )
    })
}

/// Parses whitespace-separated unsigned numbers; `None` if any is not one
/// or there are none.
pub fn parse_numbers(text: &str) -> Option<Vec<u64>> {
    let v: Option<Vec<u64>> = text.split_whitespace().map(|s| s.parse().ok()).collect();
    v.filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_names_map_to_paths() {
        assert_eq!(
            path(Path::new("/proc"), "net.ipv4.ip_local_port_range"),
            PathBuf::from("/proc/sys/net/ipv4/ip_local_port_range")
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_numbers("32768\t60999\n"), Some(vec![32768, 60999]));
        assert_eq!(parse_numbers(""), None);
        assert_eq!(parse_numbers("1 x"), None);
    }

    #[test]
    fn reads_live_values() {
        let r = read_numbers(Path::new("/proc"), "net.ipv4.ip_local_port_range").unwrap();
        assert_eq!(r.len(), 2);
        assert!(r[0] <= r[1]);
    }
}
