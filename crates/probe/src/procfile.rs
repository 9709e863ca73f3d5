//! A `/proc` file held open and re-read with `pread(fd, buf, 0)`: one
//! syscall per sample instead of open, read and close.
//!
//! The kernel's seq_file regenerates the text whenever a read starts at
//! offset 0, so each [`ProcFile::read`] sees fresh values. A file under
//! `/proc/PID/` stays tied to that process: once it is reaped, reads fail
//! (`ESRCH`) rather than silently showing another process that reused the
//! pid. See proc(5) and pread(2).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::ParseError;
use crate::text::invalid_data;

/// The longest text [`ProcFile::read`] accepts (4 MiB); `/proc/slabinfo`
/// is ~30 KiB, `/proc/net/netstat` ~5 KiB.
pub const MAX_LEN: usize = 4 << 20;

/// An open `/proc` file and a buffer reused across reads.
#[derive(Debug)]
pub struct ProcFile {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
}

impl ProcFile {
    /// Opens `path` for repeated reads.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        let file = File::open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", path.display())))?;
        Ok(Self {
            path,
            file,
            buf: Vec::with_capacity(512),
        })
    }

    /// The path this file was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the whole file again from offset 0 and returns its bytes.
    pub fn read(&mut self) -> io::Result<&[u8]> {
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        loop {
            let n = loop {
                match self.file.read_at(&mut chunk, self.buf.len() as u64) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let msg = format!("reading {}: {e}", self.path.display());
                        return Err(io::Error::new(e.kind(), msg));
                    }
                    Ok(n) => break n,
                }
            };
            let Some(bytes) = chunk.get(..n) else { break };
            if bytes.is_empty() {
                break;
            }
            if self.buf.len().saturating_add(n) > MAX_LEN {
                let msg = format!("{} is longer than {MAX_LEN} bytes", self.path.display());
                return Err(io::Error::new(io::ErrorKind::InvalidData, msg));
            }
            self.buf.extend_from_slice(bytes);
        }
        Ok(&self.buf)
    }

    /// Reads the file again and parses it, naming the path in errors.
    pub fn read_parsed<T>(
        &mut self,
        parse: impl FnOnce(&[u8]) -> Result<T, ParseError>,
    ) -> io::Result<T> {
        self.read()?;
        parse(&self.buf).map_err(|e| invalid_data(&self.path, e))
    }
}
