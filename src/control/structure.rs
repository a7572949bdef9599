//! The shape of the engine's modules, checked from their sources: no module imports, by
//! a chain of imports, itself; the phases the control loop drives are called by the run
//! loop alone; and nothing calls the run loop. A phase then depends only on the context
//! and the shared pieces (jobs, tasks, leases, storage...), never on another phase.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Who may import each phase; a module not listed may be imported by any module, as long
/// as no cycle forms.
const ALLOWED_IMPORTERS: &[(&str, &[&str])] = &[
    ("run_loop", &[]),
    ("scheduler", &["run_loop"]),
    ("collector", &["run_loop"]),
    ("transfer", &["run_loop"]),
    ("restore", &["run_loop"]),
    ("expiry", &["run_loop"]),
    // Called from the API only.
    ("cancel", &[]),
    ("on_demand", &[]),
    // Starting a backup: the work of both of its triggers.
    ("backup", &["scheduler", "on_demand"]),
];

/// Each module of `src/control` (a file beside `mod.rs`) and the sibling modules it
/// imports, through `super::` or `crate::control::`, directly or through `mod.rs`'s
/// re-exports.
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/control");
    let mut sources = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("src/control is readable") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            sources.insert(name, std::fs::read_to_string(&path).expect("a source file"));
        }
    }
    let root = sources.remove("mod").expect("src/control/mod.rs");
    let mut reexports = BTreeMap::new();
    for line in root.lines() {
        if let Some(path) = line.strip_prefix("pub use ") {
            let (module, names) = path.split_once("::").expect("a re-export names its module");
            for name in first_segments(names) {
                reexports.insert(name, module.to_owned());
            }
        }
    }
    let module_of = |name: &str| {
        if sources.contains_key(name) {
            Some(name.to_owned())
        } else {
            reexports.get(name).cloned()
        }
    };
    let mut graph = BTreeMap::new();
    for (module, source) in &sources {
        let code: String = source
            .lines()
            .map(|line| line.split("//").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        let mut imports = BTreeSet::new();
        for prefix in ["super::", "crate::control::"] {
            for (at, _) in code.match_indices(prefix) {
                for name in first_segments(&code[at + prefix.len()..]) {
                    imports.extend(module_of(&name).filter(|m| m != module));
                }
            }
        }
        graph.insert(module.clone(), imports);
    }
    graph
}

/// The first path segment of each path in `text`'s leading `a::b`, `{a, b::c, ...}`.
fn first_segments(text: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = text.strip_prefix('{') else {
        return vec![ident(text)];
    };
    let mut names = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                names.push(ident(&group[start..at]));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                names.push(ident(&group[start..at]));
                start = at + 1;
            }
            _ => {}
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

/// A chain of imports from a module back to itself, if any.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        module: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| m == module) {
            let mut cycle = path[at..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|module| visit(module, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_import_graph_is_read_from_the_sources() {
    let graph = import_graph();
    // Known edges, one of each form: `use super::x`, a group, a re-export, `crate::control`.
    assert!(graph["transfer"].contains("vault_storage"), "{graph:?}");
    assert!(graph["run_loop"].contains("collector"), "{graph:?}");
    assert!(graph["tasks"].contains("error"), "{graph:?}");
    assert!(graph["retention"].contains("schedule"), "{graph:?}");
}

#[test]
fn no_module_of_the_engine_imports_itself_through_others() {
    let graph = import_graph();
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle in src/control: {}", cycle.join(" -> "));
    }
}

#[test]
fn phases_are_imported_only_by_their_callers() {
    let graph = import_graph();
    let mut wrong = Vec::new();
    for (module, imports) in &graph {
        for imported in imports {
            let allowed = ALLOWED_IMPORTERS
                .iter()
                .find(|(phase, _)| phase == imported)
                .is_none_or(|(_, importers)| importers.contains(&module.as_str()));
            if !allowed {
                wrong.push(format!("{module} imports {imported}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("; "));
}

#[test]
fn a_cycle_is_found_and_named() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", &["b"][..]),
        ("b", &["c"][..]),
        ("c", &["a"][..]),
        ("d", &[][..]),
    ]
    .into_iter()
    .map(|(m, i)| (m.to_owned(), i.iter().map(|s| (*s).to_owned()).collect()))
    .collect();
    assert_eq!(find_cycle(&graph).unwrap().join(" -> "), "a -> b -> c -> a");
    let mut acyclic = graph;
    acyclic.get_mut("c").unwrap().clear();
    assert_eq!(find_cycle(&acyclic), None);
}
