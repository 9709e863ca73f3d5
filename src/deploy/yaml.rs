//! YAML that reads the same under YAML 1.1, as Kubernetes reads it
//! (sigs.k8s.io/yaml on go-yaml v2) and PyYAML does (kubectl plugins,
//! kubernetes-validate).
//!
//! yaml_serde writes YAML 1.2: it quotes a string that 1.2 would read as
//! something else (`'100000'`, `'true'`), but leaves plain the strings
//! that only 1.1 reads as something else — `yes`/`on`/`y` (booleans),
//! `2026-12-01T10:00:00Z` (a timestamp), `30:00` (base 60), `1_000` (an
//! int). [`to_string`] serializes with yaml_serde, then single-quotes
//! every plain scalar a 1.1 reader could take for a non-string. Over-
//! quoting a string is harmless; numbers and booleans c1m writes (plain
//! decimal integers, `true`, `false`) stay plain.

use serde::Serialize;

use super::DeployError;

/// Serializes `value` as one YAML document readable alike by YAML 1.1
/// and 1.2 readers.
///
/// # Errors
/// [`DeployError::BadValue`] when serialization fails, or a string would
/// need a multi-line block (c1m's values are single lines).
pub fn to_string<T: Serialize>(value: &T) -> Result<String, DeployError> {
    let text = yaml_serde::to_string(value).map_err(|e| DeployError::BadValue(e.to_string()))?;
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        out += &quote_line(line)?;
        out.push('\n');
    }
    Ok(out)
}

/// One emitted line with its plain scalar value quoted when a 1.1 reader
/// would not read it as a string.
fn quote_line(line: &str) -> Result<String, DeployError> {
    let indent = line.len() - line.trim_start().len();
    let mut head = line[..indent].to_string();
    let mut rest = &line[indent..];
    while let Some(r) = rest.strip_prefix("- ") {
        head += "- ";
        rest = r;
    }
    let value = match rest.split_once(": ") {
        Some((key, value)) if !key.starts_with(['\'', '"']) => {
            head += key;
            head += ": ";
            value
        }
        _ if rest.ends_with(':') => return Ok(line.to_string()),
        _ => rest,
    };
    if value.starts_with(['|', '>']) {
        return Err(DeployError::BadValue(format!(
            "a value spans lines in the YAML ({line:?}): c1m's values are one line each"
        )));
    }
    if needs_quotes(value) {
        Ok(format!("{head}'{value}'"))
    } else {
        Ok(line.to_string())
    }
}

/// Whether a plain scalar might be read by YAML 1.1 as a boolean, null,
/// number, timestamp or merge key, unless it is one of the plain forms
/// c1m means as such (a decimal integer, `true`, `false`).
pub fn needs_quotes(value: &str) -> bool {
    if value.is_empty() || value.starts_with(['\'', '"']) {
        return false;
    }
    let is_decimal =
        value.bytes().all(|b| b.is_ascii_digit()) && (value == "0" || !value.starts_with('0'));
    if is_decimal || value == "true" || value == "false" {
        return false;
    }
    const WORDS: &[&str] = &[
        "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~", ".inf", "-.inf", "+.inf",
        ".nan", "<<", "=",
    ];
    if WORDS.contains(&value.to_ascii_lowercase().as_str()) {
        return true;
    }
    // Numbers (0b101, 017, 1_000, 0x1F, 1:20 in base 60, 1.5e3) and
    // timestamps (2026-12-01, 2026-12-01T10:00:00Z, with a space too)
    // start with a digit, a sign or a dot, and use only these characters.
    let bytes = value.as_bytes();
    let starts = bytes[0].is_ascii_digit()
        || (matches!(bytes[0], b'+' | b'-' | b'.')
            && bytes
                .get(1)
                .is_some_and(|b| b.is_ascii_digit() || *b == b'.'));
    starts
        && value
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b"xXo_:.+-ZTt \t".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_yaml_1_1_would_misread_are_quoted() {
        for s in [
            "y",
            "Y",
            "yes",
            "On",
            "OFF",
            "no",
            "NULL",
            "~",
            "2026-12-01T10:00:00Z",
            "2026-12-01",
            "2026-12-01 10:00:00",
            "30:00",
            "190:20:30",
            "1_000",
            "0b101",
            "017",
            "0x1F",
            "1.5e3",
            "-1",
            "+5",
            ".5",
            ".Inf",
            "<<",
            "1024 65535",
            // Not special, but made of the same characters: quoting it
            // is harmless.
            "0.0.0.0:8090",
        ] {
            assert!(needs_quotes(s), "{s}");
        }
        for s in [
            "0",
            "10",
            "65535",
            "true",
            "false",
            "c1m",
            "--shard",
            "-n",
            "60s",
            "500m",
            "733Mi",
            "$(JOB_COMPLETION_INDEX)/10",
            "s:8090-8093",
            "Indexed",
            "'on'",
            "",
            "serve",
        ] {
            assert!(!needs_quotes(s), "{s}");
        }
    }

    #[test]
    fn documents_come_out_quoted_where_needed() {
        #[derive(Serialize)]
        struct Doc {
            args: Vec<&'static str>,
            replicas: u32,
            flag: bool,
            #[serde(rename = "startAt")]
            start_at: &'static str,
            items: Vec<Item>,
        }
        #[derive(Serialize)]
        struct Item {
            name: &'static str,
            value: &'static str,
        }
        let text = to_string(&Doc {
            args: vec![
                "on",
                "--start-at",
                "2026-12-01T10:00:00Z",
                "100000",
                "plain",
            ],
            replicas: 1,
            flag: true,
            start_at: "30:00",
            items: vec![Item {
                name: "y",
                value: "1024 65535",
            }],
        })
        .unwrap();
        assert_eq!(
            text,
            "args:\n- 'on'\n- --start-at\n- '2026-12-01T10:00:00Z'\n- '100000'\n- plain\n\
             replicas: 1\nflag: true\nstartAt: '30:00'\nitems:\n- name: 'y'\n  value: '1024 65535'\n"
        );
        let back: yaml_serde::Value = yaml_serde::from_str(&text).unwrap();
        assert_eq!(back["startAt"], "30:00");
        assert!(to_string(&vec!["a\nb"]).is_err());
    }
}
