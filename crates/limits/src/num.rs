//! Number formatting and parsing shared by the report, the verdict line and
//! the command line: thousands separators, binary sizes, counts of things
//! (`1 port`, `2 source addresses`), counts typed like `1.1M`.

/// `1234567` → `"1,234,567"`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count and its noun, singular for exactly one: `plural(1, "port",
/// "ports")` → `"1 port"`, `plural(28_232, "port", "ports")` →
/// `"28,232 ports"`. Every count + noun in c1m-limits' output goes
/// through it.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// A byte count in binary units with one decimal: `"23.4 GiB"`, `"512 B"`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `n × 1.1`, rounded up: the seeds' 10 % headroom, in integers.
pub fn with_headroom(n: u64) -> u64 {
    n.checked_mul(11).map_or(u64::MAX, |m| m.div_ceil(10))
}

/// Parses a count as people type it: `1000000`, `1_000_000`, `1,000,000`,
/// `1M`, `1.1m`, `500k`. Errors name what was wrong.
pub fn parse_count(text: &str) -> Result<u64, String> {
    let cleaned: String = text
        .trim()
        .chars()
        .filter(|c| *c != '_' && *c != ',')
        .collect();
    let (number, scale) = match cleaned.chars().last() {
        Some('k' | 'K') => (&cleaned[..cleaned.len() - 1], 1_000u64),
        Some('m' | 'M') => (&cleaned[..cleaned.len() - 1], 1_000_000),
        Some('g' | 'G') => (&cleaned[..cleaned.len() - 1], 1_000_000_000),
        _ => (cleaned.as_str(), 1),
    };
    let bad = || {
        format!(
            "{text:?} is not a count from 1 to 18,446,744,073,709,551,615; write e.g. 1000000, 1_000_000, 1M, 1.1M, 500k"
        )
    };
    if number.is_empty() {
        return Err(bad());
    }
    let value = match number.split_once('.') {
        None => number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale)),
        Some((whole, frac)) => {
            // Fixed point: whole and fraction digits scaled separately, exact.
            if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let whole: u64 = if whole.is_empty() {
                0
            } else {
                whole.parse().map_err(|_| bad())?
            };
            let denom = 10u64.pow(frac.len() as u32);
            let frac: u64 = frac.parse().map_err(|_| bad())?;
            let part = frac.checked_mul(scale).filter(|p| p % denom == 0);
            match part {
                Some(p) => whole
                    .checked_mul(scale)
                    .and_then(|w| w.checked_add(p / denom)),
                None => {
                    return Err(format!(
                        "{text:?} is not a whole number of connections; write e.g. 1.5M, 1500000"
                    ));
                }
            }
        }
    };
    match value {
        Some(0) => Err(format!(
            "{text:?}: the count must be at least 1 (e.g. 1000, 1M)"
        )),
        Some(v) => Ok(v),
        None => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(0, "port", "ports"), "0 ports");
        assert_eq!(
            plural(1, "source address", "source addresses"),
            "1 source address"
        );
        assert_eq!(
            plural(2, "source address", "source addresses"),
            "2 source addresses"
        );
        assert_eq!(plural(28_232, "port", "ports"), "28,232 ports");
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(4096), "4.0 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
        assert_eq!(bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn headroom() {
        assert_eq!(with_headroom(1_000_000), 1_100_000);
        assert_eq!(with_headroom(2_000_000), 2_200_000);
        assert_eq!(with_headroom(1), 2);
        assert_eq!(with_headroom(u64::MAX), u64::MAX);
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("1000000"), Ok(1_000_000));
        assert_eq!(parse_count("1_000_000"), Ok(1_000_000));
        assert_eq!(parse_count("1,000,000"), Ok(1_000_000));
        assert_eq!(parse_count("1M"), Ok(1_000_000));
        assert_eq!(parse_count("1.1M"), Ok(1_100_000));
        assert_eq!(parse_count("500k"), Ok(500_000));
        assert_eq!(parse_count(".5k"), Ok(500));
        assert!(parse_count("0").is_err());
        assert!(parse_count("").is_err());
        assert!(parse_count("M").is_err());
        assert!(parse_count("1.5").is_err());
        assert!(parse_count("-3").is_err());
        assert!(parse_count("1.").is_err());
        assert!(parse_count("99999999999999999999").is_err());
        assert!(parse_count("99999999999G").is_err());
    }
}
