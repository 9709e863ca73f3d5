//! c1m's own measured kernel cost per socket, recorded by `c1m run` after a
//! measured run and used by `doctor` in place of the ~3.9 KiB estimate.
//!
//! Stored as JSON (`{"schema":"c1m.calibration/1", …}`) in the state
//! directory: `/var/lib/c1m`, or `$C1M_STATE_DIR` when set.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The default state directory when `C1M_STATE_DIR` is not set.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/c1m";

/// The file name of the calibration inside the state directory.
pub const FILE_NAME: &str = "calibration.json";

const SCHEMA: &str = "c1m.calibration/1";

/// Kernel memory per TCP socket when c1m has not measured it yet (~3.9 KiB:
/// socket, inode, dentry, file, tcp_sock slabs), in bytes.
pub const ESTIMATED_BYTES_PER_SOCKET: f64 = 3.9 * 1024.0;

/// The state directory: `$C1M_STATE_DIR` if set and not empty, else
/// [`DEFAULT_STATE_DIR`].
pub fn state_dir() -> PathBuf {
    match std::env::var_os("C1M_STATE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(DEFAULT_STATE_DIR),
    }
}

/// The default calibration file: `<state dir>/calibration.json`.
pub fn default_path() -> PathBuf {
    state_dir().join(FILE_NAME)
}

/// A measured per-socket kernel cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Kernel memory per socket, in bytes (slab and page growth divided by
    /// the sockets open at the time of measurement).
    pub kernel_bytes_per_socket: f64,
    /// Sockets open when it was measured.
    pub sockets: u64,
    /// `uname -r` of the kernel it was measured on.
    pub kernel_release: String,
    /// When it was measured, in seconds since the Unix epoch.
    pub measured_unix: u64,
}

/// Why a calibration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is not a calibration c1m can use.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Document {
    schema: String,
    #[serde(flatten)]
    calibration: Calibration,
}

impl Calibration {
    /// Reads a calibration; `Ok(None)` when the file does not exist (no run
    /// has been measured yet).
    pub fn load(path: &Path) -> Result<Option<Self>, CalibrationError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CalibrationError::Io {
                    path: path.into(),
                    source,
                });
            }
        };
        let invalid = |reason: String| CalibrationError::Invalid {
            path: path.into(),
            reason,
        };
        let doc: Document = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if doc.schema != SCHEMA {
            return Err(invalid(format!(
                "schema {:?}, expected {SCHEMA:?}",
                doc.schema
            )));
        }
        let c = doc.calibration;
        c.validate().map_err(invalid)?;
        Ok(Some(c))
    }

    /// Writes the calibration atomically (temporary file, then rename),
    /// creating the directory if needed.
    pub fn store(&self, path: &Path) -> Result<(), CalibrationError> {
        self.validate()
            .map_err(|reason| CalibrationError::Invalid {
                path: path.into(),
                reason,
            })?;
        let doc = Document {
            schema: SCHEMA.into(),
            calibration: self.clone(),
        };
        let mut text =
            serde_json::to_string_pretty(&doc).map_err(|e| CalibrationError::Invalid {
                path: path.into(),
                reason: e.to_string(),
            })?;
        text.push('\n');
        crate::files::write_atomically(path, text.as_bytes()).map_err(|source| {
            CalibrationError::Io {
                path: path.into(),
                source,
            }
        })
    }

    fn validate(&self) -> Result<(), String> {
        let b = self.kernel_bytes_per_socket;
        if !(b.is_finite() && b > 0.0 && b < 1024.0 * 1024.0) {
            return Err(format!(
                "kernel_bytes_per_socket {b} is not between 0 and 1 MiB"
            ));
        }
        if self.sockets == 0 {
            return Err("measured over 0 sockets".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Calibration {
        Calibration {
            kernel_bytes_per_socket: 3712.5,
            sockets: 2_000_000,
            kernel_release: "6.18.44".into(),
            measured_unix: 1_750_000_000,
        }
    }

    #[test]
    fn round_trip_and_absence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/calibration.json");
        assert!(Calibration::load(&path).unwrap().is_none());
        sample().store(&path).unwrap();
        assert_eq!(Calibration::load(&path).unwrap(), Some(sample()));
    }

    #[test]
    fn bad_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calibration.json");
        for text in [
            "",
            "garbage",
            "{}",
            r#"{"schema":"c1m.calibration/9","kernel_bytes_per_socket":1,"sockets":1,"kernel_release":"x","measured_unix":0}"#,
            r#"{"schema":"c1m.calibration/1","kernel_bytes_per_socket":-1,"sockets":1,"kernel_release":"x","measured_unix":0}"#,
            r#"{"schema":"c1m.calibration/1","kernel_bytes_per_socket":10,"sockets":0,"kernel_release":"x","measured_unix":0}"#,
        ] {
            std::fs::write(&path, text).unwrap();
            assert!(Calibration::load(&path).is_err(), "{text}");
        }
        let mut bad = sample();
        bad.kernel_bytes_per_socket = f64::NAN;
        assert!(bad.store(&path).is_err());
    }
}
