//! Manifests read back as YAML, for checks: every document of a
//! multi-document text, each document's `Kind/name`, a sequence of
//! strings.
//!
//! Only `yaml_serde` and `serde`: the unit tests of `src/deploy`
//! include this same file (`#[path]` in `src/deploy/k8s_tests.rs`), so
//! the generator's tests and the command's read YAML back one way.

use yaml_serde::Value;

/// Every document of a multi-document YAML text.
pub fn docs(text: &str) -> Vec<Value> {
    yaml_serde::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

/// Each document's `Kind/name` (`Job/c1m`).
pub fn kinds(docs: &[Value]) -> Vec<String> {
    docs.iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["kind"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

/// A sequence of strings (a container's `command`, `args`).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}
