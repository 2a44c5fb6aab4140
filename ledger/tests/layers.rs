//! The layers of the crate as its folders show them: no module imports one that imports it
//! back, and the domain does no I/O. Read from the source, so a new import that closes a circle
//! fails here with the circle named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules of the crate; `crate` stands for `lib.rs` itself.
const TOP: &[&str] = &[
    "csv", "domain", "iso20022", "keys", "redact", "service", "store", "testkit",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable source folder") {
        let path = entry.expect("a readable entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments (line and doc comments).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("a readable source file");
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every name that follows `prefix` in `code`, including each name of a `prefix{a, b::c}`
/// group.
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let first = item.trim().split("::").next().unwrap_or("").trim();
                if !first.is_empty() {
                    out.insert(first.to_string());
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

/// A circle in `graph`, if any, as the list of its modules.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut c = path[i..].to_vec();
            c.push(node.to_string());
            return Some(c);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a file belongs to.
fn top_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).expect("under src");
    let first = rel.components().next().expect("a component");
    let first = first.as_os_str().to_string_lossy();
    match first.strip_suffix(".rs") {
        Some("lib") => "crate".to_string(),
        Some(m) => m.to_string(),
        None => first.to_string(),
    }
}

#[test]
fn no_circle_between_the_top_level_modules() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = top_of(file);
        let code = code(file);
        let mut targets = names_after(&code, "crate::");
        if from == "crate" {
            for m in TOP {
                if code.contains(&format!("{m}::")) {
                    targets.insert(m.to_string());
                }
            }
        }
        for t in targets {
            let to = if TOP.contains(&t.as_str()) {
                t
            } else {
                // An item of lib.rs itself (Ledger, Config, Appended…).
                "crate".to_string()
            };
            if to != from {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    assert_eq!(circle(&graph), None, "the module graph: {graph:#?}");
    // The layers as ARCHITECTURE.md states them.
    for (layer, never) in [
        ("domain", &["store", "service", "testkit", "crate"][..]),
        ("store", &["service", "testkit"][..]),
        ("service", &["testkit"][..]),
    ] {
        for n in never {
            assert!(
                !graph.get(layer).is_some_and(|to| to.contains(*n)),
                "{layer} must not import {n}: {graph:#?}"
            );
        }
    }
}

#[test]
fn no_circle_inside_the_domain_and_no_io() {
    let dir = src().join("domain");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = file
            .file_stem()
            .expect("a file name")
            .to_string_lossy()
            .to_string();
        let code = code(file);
        for banned in ["sqlx", "tokio", "std::fs", "std::net", "std::process"] {
            assert!(
                !code.contains(banned),
                "{from} uses {banned}: the domain does no I/O"
            );
        }
        if from == "mod" {
            continue;
        }
        let mut targets = names_after(&code, "super::");
        targets.extend(names_after(&code, "crate::domain::"));
        for t in targets {
            if t != from && dir.join(format!("{t}.rs")).exists() {
                graph.entry(from.clone()).or_default().insert(t);
            }
        }
    }
    assert_eq!(
        circle(&graph),
        None,
        "the domain's module graph: {graph:#?}"
    );
}
