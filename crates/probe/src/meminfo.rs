//! `/proc/meminfo`: `Key:   value kB` lines.

use std::collections::BTreeMap;

use crate::ParseError;

/// The parsed `/proc/meminfo`, every value in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meminfo {
    values: BTreeMap<String, u64>,
}

impl Meminfo {
    /// Parses the text of `/proc/meminfo`. Values carrying a `kB` unit are
    /// converted to bytes; unit-less ones (`HugePages_Total`) are kept as is.
    pub fn parse(input: &[u8]) -> Result<Self, ParseError> {
        const WHAT: &str = "meminfo";
        crate::text::check_whole(input, WHAT)?;
        let text = std::str::from_utf8(input).map_err(|_| ParseError::Malformed {
            what: WHAT,
            line: 0,
            reason: "not UTF-8".into(),
        })?;
        let mut values = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let malformed = |reason: &str| ParseError::Malformed {
                what: WHAT,
                line: i + 1,
                reason: reason.into(),
            };
            let (key, rest) = line.split_once(':').ok_or_else(|| malformed("no ':'"))?;
            let mut parts = rest.split_whitespace();
            let number: u64 = parts
                .next()
                .ok_or_else(|| malformed("no value"))?
                .parse()
                .map_err(|_| malformed("value is not a number"))?;
            let value = match parts.next() {
                None => number,
                Some("kB") => number
                    .checked_mul(1024)
                    .ok_or_else(|| malformed("value overflows"))?,
                Some(_) => return Err(malformed("unknown unit")),
            };
            values.insert(key.trim().to_string(), value);
        }
        if values.is_empty() {
            return Err(ParseError::Truncated { what: WHAT });
        }
        Ok(Self { values })
    }

    /// A value by its key (`"MemAvailable"`), in bytes.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.values.get(key).copied()
    }

    /// `MemAvailable`, in bytes.
    pub fn mem_available(&self) -> Option<u64> {
        self.get("MemAvailable")
    }

    /// `MemTotal`, in bytes.
    pub fn mem_total(&self) -> Option<u64> {
        self.get("MemTotal")
    }

    /// `Slab`, in bytes.
    pub fn slab(&self) -> Option<u64> {
        self.get("Slab")
    }

    /// `SUnreclaim`, in bytes.
    pub fn slab_unreclaimable(&self) -> Option<u64> {
        self.get("SUnreclaim")
    }

    /// All keys and values, in bytes.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.values.iter().map(|(k, v)| (k.as_str(), *v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values_in_bytes() {
        let m = Meminfo::parse(
            b"MemTotal:       24000000 kB\nMemAvailable:   1000 kB\nHugePages_Total:       0\n",
        )
        .unwrap();
        assert_eq!(m.mem_total(), Some(24_000_000 * 1024));
        assert_eq!(m.mem_available(), Some(1_024_000));
        assert_eq!(m.get("HugePages_Total"), Some(0));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(Meminfo::parse(b"").is_err());
        assert!(Meminfo::parse(b"MemTotal 12 kB\n").is_err());
        assert!(Meminfo::parse(b"MemTotal: x kB\n").is_err());
        assert!(Meminfo::parse(b"MemTotal: 99999999999999999999 kB\n").is_err());
        assert!(Meminfo::parse(&[0xff, 0xfe]).is_err());
        // Cut short mid-line: the last value may be a prefix of the real one.
        assert!(Meminfo::parse(b"MemTotal:       24000000 kB\nMemFree:  12").is_err());
    }
}
