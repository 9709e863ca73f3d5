//! Source checks c1m runs as ordinary tests, so that rules about the code's
//! shape fail a build instead of living in prose:
//!
//! - [`check_layers`] and [`check_module_layers`]: the modules of a crate
//!   (or of one folder module) form layers, lowest first; a module may use
//!   only modules of lower layers, so no two modules depend on each other
//!   and there is no module cycle.
//! - [`scan`]: where given identifiers (`libc`, `RawFd`, `unsafe`, …)
//!   occur in source, by file and line, comments and literals left out.
//!
//! Both read source text only: no compiler, no parser crate, no
//! dependency beyond `std`. What that cannot see is stated on each
//! function; every gap errs towards missing an edge or an occurrence, never
//! towards inventing one.
//!
//! Used as a dev-dependency by the tests of each crate:
//! `crates/{sys,probe,limits}/tests/` (the root crate's `tests/` may call
//! it the same way).

#![deny(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A crate's or a folder module's layers, lowest first: each layer lists
/// the names of modules that may use any module of an earlier layer, and
/// no module of their own layer or above.
pub type Layers<'a> = &'a [&'a [&'a str]];

/// Checks that the top-level modules of the crate whose source folder is
/// `src` (the one holding `lib.rs`, or `main.rs` for a binary-only crate)
/// respect `layers`; see [`check_module_layers`].
pub fn check_layers(src: &Path, layers: Layers<'_>) -> Result<(), String> {
    check_module_layers(src, "", layers)
}

/// Checks that the child modules of `module` (a path below the crate
/// root such as `"diag"` or `"report::html"`; `""` for the crate root) in
/// the crate whose source folder is `src` respect `layers`:
///
/// - every child module has exactly one layer, and every name in `layers`
///   is a child module (a stale table fails too);
/// - every use of one child module by another goes to a lower layer;
/// - there is no cycle among the child modules (implied by the above, but
///   reported on its own, as a path, when a module lacks a layer).
///
/// `Err` holds every problem found, one a line, naming the file that
/// makes each offending use. I/O errors (an unreadable source file) are
/// reported the same way.
///
/// A use is a path starting with `crate::`, `self::` or `super::`, in a
/// `use` item (groups included) or inline in code, in any file of a child
/// module or of its descendants (files brought in with `#[path]` count
/// for the module that declares them). A name that the module's root file
/// (`lib.rs` or `mod.rs`) re-exports (`pub use child::Item`, or a private
/// `use`, which children also see) counts as a use of that child. The
/// root file itself, and items defined in it, are outside the layers: it
/// declares the children and may use all of them; keep its own items few.
///
/// Not seen: uses through glob imports (`use super::*`), through macros
/// that build paths, and `super::` inside an inline module (`mod tests {
/// … }`), which is resolved as if written in the file's own module.
pub fn check_module_layers(src: &Path, module: &str, layers: Layers<'_>) -> Result<(), String> {
    let graph = module_graph(src, module).map_err(|e| e.to_string())?;
    let mut problems = Vec::new();

    let mut layer_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, layer) in layers.iter().enumerate() {
        for &name in *layer {
            if layer_of.insert(name, i).is_some() {
                problems.push(format!("`{name}` is in more than one layer"));
            }
            if !graph.modules.contains(name) {
                problems.push(format!(
                    "`{name}` has a layer but is not a module of {}",
                    graph.describe()
                ));
            }
        }
    }
    for name in &graph.modules {
        if !layer_of.contains_key(name.as_str()) {
            problems.push(format!(
                "module `{name}` of {} has no layer: add it to the LAYERS table",
                graph.describe()
            ));
        }
    }
    if let Some(cycle) = find_cycle(&graph.edges) {
        problems.push(format!("module cycle: {}", cycle.join(" → ")));
    }
    for e in &graph.edges {
        match (layer_of.get(e.from.as_str()), layer_of.get(e.to.as_str())) {
            (Some(a), Some(b)) if b < a => {}
            (Some(_), Some(_)) => problems.push(format!(
                "`{}` uses `{}` ({}): `{}` is not in a lower layer",
                e.from,
                e.to,
                e.file.display(),
                e.to
            )),
            // Already reported as a module without a layer.
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// One use of a module by another: `from` names `to` in `file`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    /// The using child module.
    pub from: String,
    /// The used child module.
    pub to: String,
    /// The first file (relative to `src`) where `from` uses `to`.
    pub file: PathBuf,
}

/// The child modules of one module and the uses among them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleGraph {
    /// The module's path below the crate root, `""` for the root.
    pub module: String,
    /// Its child modules that have their own file (not inline ones).
    pub modules: BTreeSet<String>,
    /// One edge per (user, used) pair of distinct children, sorted.
    pub edges: Vec<Edge>,
}

impl ModuleGraph {
    fn describe(&self) -> String {
        if self.module.is_empty() {
            "the crate".to_string()
        } else {
            format!("`{}`", self.module)
        }
    }
}

/// Reads the child modules of `module` (see [`check_module_layers`] for
/// the path syntax and what is seen) and the uses among them.
///
/// Errors: `NotFound` if `src` has no `lib.rs` or `main.rs`, or `module`
/// is not a module with its own file; any error reading a source file.
pub fn module_graph(src: &Path, module: &str) -> io::Result<ModuleGraph> {
    let files = module_files(src)?;
    let prefix: Vec<String> = module
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let root = files.iter().find(|f| f.module == prefix).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "no module `{module}` with its own file under {}",
                src.display()
            ),
        )
    })?;
    let depth = prefix.len();
    let modules: BTreeSet<String> = files
        .iter()
        .filter(|f| f.module.len() == depth + 1 && f.module.starts_with(&prefix))
        .filter_map(|f| f.module.last().cloned())
        .collect();

    // Names the root file brings into the module's scope from a child.
    let mut reexports: BTreeMap<String, String> = BTreeMap::new();
    let root_code = code_only(&read(&root.path)?);
    for u in use_items(&root_code) {
        let Some(abs) = resolve(&u.segments, &root.module, true) else {
            continue;
        };
        if abs.len() < depth + 2 || !abs.starts_with(&prefix) {
            continue;
        }
        let child = &abs[depth];
        let leaf = u.alias.as_ref().or(abs.last());
        if let Some(leaf) = leaf
            && modules.contains(child)
            && leaf != "self"
            && leaf != "*"
        {
            reexports.insert(leaf.clone(), child.clone());
        }
    }

    let mut edges: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
    for f in &files {
        if f.module.len() <= depth || !f.module.starts_with(&prefix) {
            continue;
        }
        let from = &f.module[depth];
        let code = code_only(&read(&f.path)?);
        for p in paths(&code) {
            let Some(abs) = resolve(&p, &f.module, false) else {
                continue;
            };
            if abs.len() <= depth || !abs.starts_with(&prefix) {
                continue;
            }
            let name = &abs[depth];
            let to = if modules.contains(name) {
                name
            } else if let Some(m) = reexports.get(name) {
                m
            } else {
                continue;
            };
            if to != from {
                let rel = f.path.strip_prefix(src).unwrap_or(&f.path).to_path_buf();
                edges.entry((from.clone(), to.clone())).or_insert(rel);
            }
        }
    }
    Ok(ModuleGraph {
        module: module.to_string(),
        modules,
        edges: edges
            .into_iter()
            .map(|((from, to), file)| Edge { from, to, file })
            .collect(),
    })
}

/// A cycle among the edges, as the modules along it with the first
/// repeated at the end (`a → b → a`), if there is one.
pub fn find_cycle(edges: &[Edge]) -> Option<Vec<String>> {
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in edges {
        graph
            .entry(e.from.as_str())
            .or_default()
            .push(e.to.as_str());
    }
    // Depth-first; a node met again on the current path closes a cycle.
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, &graph, &mut Vec::new(), &mut done))
}

/// One source file of a crate and the module it is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ModuleFile {
    path: PathBuf,
    /// Below the crate root: `[]` for `lib.rs`, `["diag", "reply"]`.
    module: Vec<String>,
}

/// Every file of the crate whose source folder is `src`, found the way
/// rustc finds them: from the crate root through each `mod NAME;`
/// (`NAME.rs`, `NAME/mod.rs`, or a `#[path = "…"]`). Files no `mod`
/// declares (stale ones, other binaries' roots) are not part of it.
fn module_files(src: &Path) -> io::Result<Vec<ModuleFile>> {
    let root = ["lib.rs", "main.rs"]
        .iter()
        .map(|f| src.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no lib.rs or main.rs in {}", src.display()),
            )
        })?;
    let mut out = Vec::new();
    let mut todo = vec![ModuleFile {
        path: root,
        module: Vec::new(),
    }];
    while let Some(file) = todo.pop() {
        let text = read(&file.path)?;
        let here = file.path.parent().unwrap_or(Path::new("")).to_path_buf();
        let is_mod_rs = matches!(
            file.path.file_name().and_then(|n| n.to_str()),
            Some("lib.rs" | "main.rs" | "mod.rs")
        );
        let children_dir = if is_mod_rs {
            here.clone()
        } else {
            here.join(file.path.file_stem().unwrap_or_default())
        };
        for (name, path_attr) in mod_declarations(&text) {
            let candidates = match path_attr {
                Some(p) => vec![here.join(p)],
                None => vec![
                    children_dir.join(format!("{name}.rs")),
                    children_dir.join(&name).join("mod.rs"),
                ],
            };
            if let Some(path) = candidates.into_iter().find(|p| p.is_file()) {
                let mut module = file.module.clone();
                module.push(name);
                todo.push(ModuleFile { path, module });
            }
        }
        out.push(file);
    }
    out.sort_by(|a, b| a.module.cmp(&b.module));
    Ok(out)
}

/// The `mod NAME;` declarations of a file, each with its `#[path]` if it
/// has one. Declarations inside inline modules are read as the file's own.
fn mod_declarations(text: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut path_attr = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("//") || line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("#[path") {
            path_attr = rest.split('"').nth(1).map(str::to_string);
            continue;
        }
        if line.starts_with("#[") {
            continue;
        }
        let decl = strip_visibility(line);
        if let Some(name) = decl
            .strip_prefix("mod ")
            .and_then(|r| r.strip_suffix(';'))
            .map(str::trim)
            .filter(|n| !n.is_empty() && n.chars().all(is_ident_char))
        {
            out.push((name.to_string(), path_attr.take()));
        }
        path_attr = None;
    }
    out
}

fn strip_visibility(line: &str) -> &str {
    let Some(rest) = line.strip_prefix("pub") else {
        return line;
    };
    let rest = rest.trim_start();
    match rest.strip_prefix('(') {
        Some(r) => r
            .split_once(')')
            .map_or(line, |(_, after)| after.trim_start()),
        None => rest,
    }
}

fn read(path: &Path) -> io::Result<String> {
    fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A path of a `use` tree, and the name it is brought in as if renamed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UsePath {
    segments: Vec<String>,
    alias: Option<String>,
}

/// The absolute path (below the crate root) a path written in the file of
/// module `here` names. `crate::a::b` → `[a, b]`; `super::x` from
/// `[d, e]` → `[d, x]`; `self::x` → `here + [x]`. With `bare`, a path
/// with no such keyword is taken as relative to `here`, as paths in `use`
/// items of edition 2018+ are when they name a child (`use child::Item`).
fn resolve(segments: &[String], here: &[String], bare: bool) -> Option<Vec<String>> {
    let first = segments.first()?;
    match first.as_str() {
        "crate" | "$crate" => Some(segments[1..].to_vec()),
        "self" => Some(here.iter().chain(&segments[1..]).cloned().collect()),
        "super" => {
            let ups = segments.iter().take_while(|s| *s == "super").count();
            let base = here.get(..here.len().checked_sub(ups)?)?;
            Some(base.iter().chain(&segments[ups..]).cloned().collect())
        }
        _ if bare => Some(here.iter().chain(segments).cloned().collect()),
        _ => None,
    }
}

/// Every path that starts with `crate::`, `self::`, `super::` or
/// `$crate::` in `code` (already stripped by [`code_only`]), groups
/// expanded: `use crate::{a, b::{c, d}}` gives `crate::a`, `crate::b::c`,
/// `crate::b::d`.
fn paths(code: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let at_word = i == 0
            || !chars
                .get(i - 1)
                .is_some_and(|&c| is_ident_char(c) || c == ':');
        let starts = ["crate::", "self::", "super::", "$crate::"]
            .iter()
            .any(|kw| starts_with_at(&chars, i, kw));
        if at_word && starts {
            let mut trees = Vec::new();
            i = use_tree(&chars, i, &mut Vec::new(), &mut trees);
            out.extend(trees.into_iter().map(|t| t.segments));
        } else {
            i += 1;
        }
    }
    out
}

/// The paths of every `use` item in `code` (already stripped).
fn use_items(code: &str) -> Vec<UsePath> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let at_word = i == 0 || !chars.get(i - 1).is_some_and(|&c| is_ident_char(c));
        if at_word
            && starts_with_at(&chars, i, "use")
            && chars.get(i + 3).is_some_and(|c| c.is_whitespace())
        {
            i = use_tree(&chars, i + 3, &mut Vec::new(), &mut out);
        } else {
            i += 1;
        }
    }
    out
}

fn starts_with_at(chars: &[char], i: usize, s: &str) -> bool {
    s.chars()
        .enumerate()
        .all(|(k, c)| chars.get(i + k) == Some(&c))
}

fn skip_ws(chars: &[char], mut i: usize) -> usize {
    while chars.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    i
}

/// Parses one use tree at `i` (segments joined by `::`, ending in a name,
/// `*`, `name as alias` or a `{…}` group of trees) below `prefix`, pushing
/// every complete path to `out`; returns the index after it.
fn use_tree(
    chars: &[char],
    mut i: usize,
    prefix: &mut Vec<String>,
    out: &mut Vec<UsePath>,
) -> usize {
    let base = prefix.len();
    loop {
        i = skip_ws(chars, i);
        if chars.get(i) == Some(&'{') {
            i += 1;
            loop {
                i = skip_ws(chars, i);
                match chars.get(i) {
                    None => break,
                    Some('}') => {
                        i += 1;
                        break;
                    }
                    Some(',') => i += 1,
                    Some(_) => {
                        let before = i;
                        i = use_tree(chars, i, prefix, out);
                        if i == before {
                            i += 1;
                        }
                    }
                }
            }
            prefix.truncate(base);
            return i;
        }
        let start = i;
        if chars.get(i) == Some(&'$') {
            i += 1;
        }
        while chars.get(i).is_some_and(|&c| is_ident_char(c) || c == '*') {
            i += 1;
        }
        if i == start {
            break;
        }
        prefix.push(chars[start..i].iter().collect());
        let j = skip_ws(chars, i);
        if starts_with_at(chars, j, "::") {
            i = j + 2;
            continue;
        }
        if starts_with_at(chars, j, "as") && chars.get(j + 2).is_some_and(|c| c.is_whitespace()) {
            let a = skip_ws(chars, j + 2);
            let mut e = a;
            while chars.get(e).is_some_and(|&c| is_ident_char(c)) {
                e += 1;
            }
            out.push(UsePath {
                segments: prefix.clone(),
                alias: Some(chars[a..e].iter().collect()),
            });
            prefix.truncate(base);
            return e;
        }
        break;
    }
    if prefix.len() > base {
        out.push(UsePath {
            segments: prefix.clone(),
            alias: None,
        });
    }
    prefix.truncate(base);
    i
}

/// `text` with every comment and every string, byte-string, raw-string
/// and character literal replaced by spaces (newlines kept, so lines keep
/// their numbers): what is left is code, for token searches that must not
/// match prose or data (`"style-src 'unsafe-inline'"` is no `unsafe`).
pub fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0usize;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth = depth.saturating_sub(1);
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
        } else if ch == '"' {
            out.push(' ');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' && i + 1 < c.len() {
                    out.push(' ');
                    i += 1;
                }
                out.push(blank(c[i]));
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if ch == 'r'
            && !literal_prefix_blocked(&c, i, &['b', 'c'])
            && raw_hashes(&c, i + 1).is_some()
        {
            // r"…", r#"…"#, br"…", cr#"…"#: no escapes, ends at `"` and as
            // many `#` as it began with.
            let hashes = raw_hashes(&c, i + 1).unwrap_or(0);
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let body = i + 2 + hashes;
            for _ in i..body.min(c.len()) {
                out.push(' ');
            }
            i = body;
            while i < c.len() && !c[i..].starts_with(&close) {
                out.push(blank(c[i]));
                i += 1;
            }
            for _ in i..(i + close.len()).min(c.len()) {
                out.push(' ');
            }
            i += close.len();
        } else if ch == '\'' && !literal_prefix_blocked(&c, i, &['b']) {
            // A character literal ('x', '\n', '\'', b'"'), or a lifetime ('a).
            if next == Some('\\') {
                // After the backslash and the escaped character.
                let mut j = i + 3;
                while j < c.len() && c[j] != '\'' && c[j] != '\n' {
                    j += 1;
                }
                for _ in i..=j.min(c.len() - 1) {
                    out.push(' ');
                }
                i = j + 1;
            } else if c.get(i + 2) == Some(&'\'') {
                out.push_str("   ");
                i += 3;
            } else {
                out.push(ch);
                i += 1;
            }
        } else {
            out.push(ch);
            i += 1;
        }
    }
    out
}

/// Whether the character at `i` (the `r` of a raw string, the `'` of a
/// character literal) is part of an identifier rather than the start of a
/// literal: it is if an identifier character precedes it, unless that is a
/// lone literal prefix from `prefixes` (`br"…"`, `cr"…"`, `b'x'`).
fn literal_prefix_blocked(c: &[char], i: usize, prefixes: &[char]) -> bool {
    let Some(before) = i.checked_sub(1).and_then(|p| c.get(p)) else {
        return false;
    };
    if !is_ident_char(*before) {
        return false;
    }
    let lone_prefix = prefixes.contains(before)
        && !i
            .checked_sub(2)
            .and_then(|p| c.get(p))
            .is_some_and(|&p| is_ident_char(p));
    !lone_prefix
}

/// After `r`: the number of `#` before an opening `"`, if that is what
/// follows (`r#ident`, a raw identifier, is not a string).
fn raw_hashes(c: &[char], mut i: usize) -> Option<usize> {
    let mut n = 0;
    while c.get(i) == Some(&'#') {
        n += 1;
        i += 1;
    }
    (c.get(i) == Some(&'"')).then_some(n)
}

/// One occurrence of a searched identifier.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// The file, relative to the root scanned, `/`-separated.
    pub file: String,
    /// The line, 1-based.
    pub line: usize,
    /// The identifier found.
    pub token: String,
    /// The line's text, trimmed.
    pub text: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: `{}` in `{}`",
            self.file, self.line, self.token, self.text
        )
    }
}

/// Every `.rs` file under `root`, sorted, except in directories named
/// `target`, hidden ones (`.git`), and the paths in `skip` (relative to
/// `root`, `/`-separated: `"crates/sys"`).
///
/// Errors: any directory that cannot be read.
pub fn rust_files(root: &Path, skip: &[&str]) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let entries = fs::read_dir(&dir)
            .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", dir.display())))?;
        for entry in entries {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if skip.contains(&relative(root, &path).as_str()) {
                continue;
            }
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    todo.push(path);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Where the identifiers `tokens` occur as whole identifiers in code
/// (comments and literals left out, see [`code_only`]) of every `.rs`
/// file under `root` but those [`rust_files`] skips, sorted by file and
/// line. `unsafe` finds the keyword (`unsafe {`, `unsafe fn`, `unsafe
/// impl`), not `unsafe_code`; `libc` finds `libc::…` and `use libc`.
///
/// Errors: any file or directory that cannot be read.
pub fn scan(root: &Path, skip: &[&str], tokens: &[&str]) -> io::Result<Vec<Finding>> {
    let mut out = Vec::new();
    for path in rust_files(root, skip)? {
        let text = read(&path)?;
        let code = code_only(&text);
        let file = relative(root, &path);
        for (n, (line, original)) in code.lines().zip(text.lines()).enumerate() {
            for token in identifiers(line) {
                if tokens.contains(&token) {
                    out.push(Finding {
                        file: file.clone(),
                        line: n + 1,
                        token: token.to_string(),
                        text: original.trim().to_string(),
                    });
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The identifiers (and keywords) of a line of code, in order.
fn identifiers(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !is_ident_char(c))
        .filter(|w| w.starts_with(|c: char| c.is_alphabetic() || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &[Vec<String>]) -> Vec<String> {
        p.iter().map(|s| s.join("::")).collect()
    }

    #[test]
    fn paths_expand_groups_and_see_inline_uses() {
        let code = code_only(
            "use crate::facts::{Facts, Reading};\n\
             use crate::{num::thousands, parse::{self, Nofile}, verdict};\n\
             // use crate::cli;\n\
             let v = crate::rows::build(f, t);\n\
             use super::super::x::Y;\n\
             let s = \"crate::not_code\";\n",
        );
        assert_eq!(
            segs(&paths(&code)),
            [
                "crate::facts::Facts",
                "crate::facts::Reading",
                "crate::num::thousands",
                "crate::parse::self",
                "crate::parse::Nofile",
                "crate::verdict",
                "crate::rows::build",
                "super::super::x::Y",
            ]
        );
    }

    #[test]
    fn use_items_keep_renames() {
        let code = "pub use error::ParseError;\npub use a::{B as C, d::*};\nuse std::io;\n";
        let u = use_items(code);
        let shown: Vec<String> = u
            .iter()
            .map(|u| {
                format!(
                    "{}{}",
                    u.segments.join("::"),
                    u.alias
                        .as_ref()
                        .map_or(String::new(), |a| format!(" as {a}"))
                )
            })
            .collect();
        assert_eq!(
            shown,
            ["error::ParseError", "a::B as C", "a::d::*", "std::io"]
        );
    }

    #[test]
    fn relative_paths_resolve() {
        let p = |s: &str| s.split("::").map(str::to_string).collect::<Vec<_>>();
        let here = p("diag::reply");
        assert_eq!(
            resolve(&p("super::state::X"), &here, false),
            Some(p("diag::state::X"))
        );
        assert_eq!(resolve(&p("super::super::x"), &here, false), Some(p("x")));
        assert_eq!(resolve(&p("super::super::super::x"), &here, false), None);
        assert_eq!(
            resolve(&p("self::y"), &here, false),
            Some(p("diag::reply::y"))
        );
        assert_eq!(resolve(&p("crate::a"), &here, false), Some(p("a")));
        assert_eq!(resolve(&p("std::io"), &here, false), None);
        assert_eq!(
            resolve(&p("child::X"), &here, true),
            Some(p("diag::reply::child::X"))
        );
    }

    #[test]
    fn code_only_blanks_comments_and_literals() {
        let src = "let a = \"unsafe { x }\"; // unsafe\n\
                   let b = r#\"libc::\"quoted\"\"#; /* RawFd /* nested */ still */ let c = 'x';\n\
                   let d = b\"\\\"unsafe\"; let e = '\\''; fn f<'a>(x: &'a u8) {}\n\
                   let q = b'\"'; let u = \"unsafe\"; let raw_r = br\"x\";\n\
                   unsafe { g() }\n";
        let code = code_only(src);
        assert_eq!(code.lines().count(), src.lines().count());
        let words: Vec<&str> = code.lines().flat_map(identifiers).collect();
        assert_eq!(
            words,
            [
                "let", "a", "let", "b", "let", "c", "let", "d", "b", "let", "e", "fn", "f", "a",
                "x", "a", "u8", "let", "q", "b", "let", "u", "let", "raw_r", "b", "unsafe", "g"
            ]
        );
    }

    #[test]
    fn visibility_and_mod_declarations() {
        let text = "pub mod a;\nmod b;\npub(crate) mod c;\n#[cfg(test)]\n#[path = \"c_tests.rs\"]\nmod tests;\nmod inline {\n}\n// mod commented;\n";
        assert_eq!(
            mod_declarations(text),
            [
                ("a".to_string(), None),
                ("b".to_string(), None),
                ("c".to_string(), None),
                ("tests".to_string(), Some("c_tests.rs".to_string())),
            ]
        );
    }

    #[test]
    fn cycles_are_found_as_paths() {
        let e = |a: &str, b: &str| Edge {
            from: a.into(),
            to: b.into(),
            file: PathBuf::new(),
        };
        assert_eq!(find_cycle(&[e("a", "b"), e("b", "c")]), None);
        assert_eq!(
            find_cycle(&[e("a", "b"), e("b", "c"), e("c", "a")]),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
    }
}
