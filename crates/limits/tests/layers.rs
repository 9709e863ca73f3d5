//! The crate's modules form layers: a module uses only modules of a lower
//! layer, never one of its own layer or above, so there is no cycle and the
//! readers and parsers (`num`, `parse`, `facts`) never depend on the
//! verdict, the tuning plan or their presentation.
//!
//! Read from the source: every `crate::NAME` path in a file under `src/`
//! (in `use` lines, braces included, and inline) is an edge from the file's
//! top-level module to `NAME`. A new module must be given a layer here.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Lowest first. A module may use modules of earlier layers only.
const LAYERS: &[&[&str]] = &[
    &["num", "files"],
    &["parse"],
    &["calibration"],
    &["facts", "target"],
    &["ports", "closing"],
    &["rows"],
    &["verdict", "tune"],
    &["apply", "render"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to: `src/rows/fds.rs` → `rows`;
/// `None` for `lib.rs`, the root that declares them all.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?;
    match first.strip_suffix(".rs") {
        Some("lib") => None,
        Some(name) => Some(name.to_string()),
        None => Some(first.to_string()),
    }
}

/// Modules named by `crate::…` paths in `text`, comments left out.
fn uses(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut out = Vec::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a, b::{c, d}, e}`: the first segment of each
            // top-level item of the group.
            let mut depth = 0;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        out.push(ident(&group[j..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

/// Every edge `from → to` between distinct top-level modules, with a file
/// that makes it.
fn edges() -> BTreeMap<(String, String), PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut out = BTreeMap::new();
    for file in files {
        let Some(from) = module_of(&src, &file) else {
            continue;
        };
        for to in uses(&fs::read_to_string(&file).unwrap()) {
            if to != from {
                out.entry((from.clone(), to))
                    .or_insert_with(|| file.strip_prefix(&src).unwrap().to_path_buf());
            }
        }
    }
    out
}

#[test]
fn the_parser_of_use_lines_sees_groups_and_inline_paths() {
    let text = "use crate::facts::{Facts, Reading};\n\
                use crate::{num::thousands, parse::{self, Nofile}, verdict};\n\
                // use crate::cli;\n\
                let v = crate::rows::build(f, t);\n";
    assert_eq!(uses(text), ["facts", "num", "parse", "verdict", "rows"]);
}

#[test]
fn every_module_uses_only_lower_layers() {
    let mut wrong = Vec::new();
    for ((from, to), file) in edges() {
        match (layer_of(&from), layer_of(&to)) {
            (Some(a), Some(b)) if b < a => {}
            (None, _) => wrong.push(format!("{from} has no layer in tests/layers.rs")),
            (_, None) => wrong.push(format!("{to} has no layer in tests/layers.rs")),
            (Some(_), Some(_)) => wrong.push(format!(
                "{from} uses {to} ({}): {to} is not in a lower layer",
                file.display()
            )),
        }
    }
    wrong.dedup();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn there_is_no_module_cycle() {
    let edges = edges();
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        graph.entry(from).or_default().push(to);
    }
    // Depth-first search; a node met again on the current path closes a cycle.
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node);
            return Some(cycle);
        }
        if done.contains(&node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.push(node);
        None
    }
    let mut done = Vec::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!("module cycle: {}", cycle.join(" → "));
        }
    }
}
