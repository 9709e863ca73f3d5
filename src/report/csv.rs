//! The timeline as CSV, for spreadsheets and plotting (`--csv FILE`,
//! `c1m report REPORT --csv FILE`): a header row, then one row per sample.
//! The columns are the JSON timeline's fields ([`Sample`]), named and
//! ordered as the JSON writes them, since both come from the same serde
//! derive; a null figure (a reading not taken) is an empty field, the
//! phase its JSON name (`ramp`, `hold`, `teardown`). RFC 4180 quoting by
//! the `csv` crate.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::model::Sample;

/// The timeline as CSV text: the header row, then a row per sample (the
/// header alone for an empty timeline).
///
/// Errors: none for a report's samples (every field is a number, a null
/// or a name); the `Result` carries the `csv` crate's, should a field
/// ever be one CSV cannot hold.
pub fn timeline(samples: &[Sample]) -> anyhow::Result<Vec<u8>> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    for s in samples {
        w.serialize(s).context("writing the timeline as CSV")?;
    }
    if samples.is_empty() {
        // The header comes with the first record: take it from a blank one.
        let mut one = ::csv::Writer::from_writer(Vec::new());
        one.serialize(Sample::default())
            .context("writing the timeline's header")?;
        let bytes = one.into_inner().context("writing the timeline's header")?;
        let end = bytes.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
        return Ok(bytes[..end].to_vec());
    }
    w.into_inner().context("writing the timeline as CSV")
}

/// Writes the timeline as CSV to `path`, whole or not at all
/// ([`super::write_whole`]), or to stdout for `-`.
///
/// Errors: a file that cannot be written, named.
pub fn write(path: &Path, samples: &[Sample]) -> anyhow::Result<()> {
    let text = timeline(samples)?;
    if super::is_stdout(path) {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(&text)
            .and_then(|()| out.flush())
            .context("writing the timeline CSV to stdout");
    }
    super::write_whole(path, &text)
        .with_context(|| format!("writing the timeline CSV to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::fixture;
    use crate::report::model::Phase;

    /// Every column is a JSON field of the sample, in the JSON's order,
    /// and every value the JSON's: numbers equal, nulls empty.
    #[test]
    fn columns_and_values_are_the_json_timelines() {
        let r = fixture("run-heartbeat");
        assert!(r.timeline.len() > 10);
        let text = String::from_utf8(timeline(&r.timeline).unwrap()).unwrap();
        let json = serde_json::to_string(&r.timeline[0]).unwrap();
        let keys: Vec<&str> = json
            .trim_matches(['{', '}'])
            .split(',')
            .map(|kv| kv.split(':').next().unwrap().trim_matches('"'))
            .collect();
        let mut rd = ::csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header, keys);
        let rows: Vec<::csv::StringRecord> = rd.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), r.timeline.len());
        for (row, s) in rows.iter().zip(&r.timeline) {
            let v = serde_json::to_value(s).unwrap();
            for (k, field) in header.iter().zip(row.iter()) {
                match &v[k] {
                    serde_json::Value::Null => assert_eq!(field, "", "{k}"),
                    serde_json::Value::String(x) => assert_eq!(field, x, "{k}"),
                    n => assert_eq!(field.parse::<f64>().ok(), n.as_f64(), "{k}"),
                }
            }
        }
        assert!(text.contains(",hold,"), "{text}");
    }

    #[test]
    fn an_empty_timeline_is_its_header() {
        let text = String::from_utf8(timeline(&[]).unwrap()).unwrap();
        assert!(text.starts_with("t,phase,established,"), "{text}");
        assert_eq!(text.lines().count(), 1);
        let one = timeline(&[Sample {
            phase: Phase::Hold,
            ..Sample::default()
        }])
        .unwrap();
        assert!(String::from_utf8(one).unwrap().starts_with(&text));
    }
}
