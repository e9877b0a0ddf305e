//! The module graph stays one-way: top-level modules of `src/` form layers
//! (written out in `src/lib.rs`'s tour and in [`LAYERS`] below), a module
//! uses only modules of its own layer or below, and there is no cycle.
//!
//! Reads the sources (no compiler involved): every `crate::<module>` path,
//! including `use crate::{a, b::c}` groups, outside comments and outside
//! test code (`#[cfg(test)]` modules, inline or in their own files). Test
//! code may reach up a layer to build realistic input (veba's golden tests
//! normalize a recorded vCenter event); what ships may not. A submodule
//! counts as its top module (`store::sqlite` is `store`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers, bottom first. A module may use its own layer and those below.
/// The same table is the "Layers" section of `src/lib.rs`.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundation",
        &[
            "logging",
            "model",
            "notify",
            "rate_limit",
            "supervisor",
            "telemetry",
            "vsphere",
        ],
    ),
    (
        "formats",
        &[
            "cloudevents",
            "dedup",
            "filter",
            "normalize",
            "snmp_values",
            "veba",
        ],
    ),
    ("config", &["config"]),
    ("store", &["store", "vcenters"]),
    ("stages", &["enrich", "route", "settings", "silence"]),
    ("sources", &["ingest"]),
    ("sinks", &["automation", "guard", "monitoring"]),
    ("pipeline", &["pipeline"]),
    ("surface", &["api", "ops", "ui"]),
    ("top", &["app", "cli"]),
];

type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<PathBuf>>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `pub mod x;` / `mod x;` in lib.rs.
fn top_modules() -> BTreeSet<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l
                .strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))?;
            Some(rest.strip_suffix(';')?.trim().to_owned())
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The directory that holds the submodules of the module in `file`.
fn module_dir(file: &Path) -> PathBuf {
    let parent = file.parent().unwrap();
    match file.file_stem().unwrap().to_str().unwrap() {
        "mod" | "lib" | "main" => parent.to_owned(),
        stem => parent.join(stem),
    }
}

/// Production code of one file, and the files of test-only submodules it declares.
fn production_code(file: &Path, text: &str) -> (String, Vec<PathBuf>) {
    let mut code = String::new();
    let mut test_files = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let line = line.split("//").next().unwrap_or("");
        if line.trim() == "#[cfg(test)]" {
            let Some(next) = lines.next() else { break };
            let next = next.trim();
            if let Some(name) = next
                .strip_prefix("mod ")
                .or_else(|| next.strip_prefix("pub mod "))
                .or_else(|| next.strip_prefix("pub(crate) mod "))
                .and_then(|r| r.strip_suffix(';'))
            {
                let dir = module_dir(file);
                test_files.push(dir.join(format!("{name}.rs")));
                test_files.push(dir.join(name));
            } else if next.starts_with("mod ") && next.ends_with('{') {
                // An inline test module is the file's last item (clippy's
                // `items_after_test_module`), so the rest is test code.
                break;
            }
            // Any other test-only item: its first line is skipped, the rest
            // counts as shipped code (errs towards finding more edges).
            continue;
        }
        code.push_str(line);
        code.push('\n');
    }
    (code, test_files)
}

/// Top modules named by `crate::` paths in `code`.
fn references(code: &str, tops: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                found.insert(ident(item.trim()));
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found.retain(|m| tops.contains(m));
    found
}

fn graph() -> Graph {
    let tops = top_modules();
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    let mut texts = BTreeMap::new();
    let mut test_only: Vec<PathBuf> = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let (code, tests) = production_code(file, &text);
        test_only.extend(tests);
        texts.insert(file.clone(), code);
    }
    let mut graph = Graph::new();
    for (file, code) in &texts {
        if test_only.iter().any(|t| file.starts_with(t)) {
            continue;
        }
        let rel = file.strip_prefix(&root).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let top = first.strip_suffix(".rs").unwrap_or(first).to_owned();
        if !tops.contains(&top) {
            continue; // lib.rs, main.rs
        }
        let node = graph.entry(top.clone()).or_default();
        for used in references(code, &tops) {
            if used != top {
                node.entry(used).or_default().insert(rel.to_owned());
            }
        }
    }
    graph
}

/// One cycle of `graph`, as the path of modules that closes it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

fn edges(graph: &Graph) -> BTreeMap<String, BTreeSet<String>> {
    graph
        .iter()
        .map(|(m, used)| (m.clone(), used.keys().cloned().collect()))
        .collect()
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = graph();
    if let Some(cycle) = find_cycle(&edges(&graph)) {
        let mut why = String::new();
        for pair in cycle.windows(2) {
            let files = &graph[&pair[0]][&pair[1]];
            why.push_str(&format!("  {} -> {} in {files:?}\n", pair[0], pair[1]));
        }
        panic!("module cycle {}:\n{why}", cycle.join(" -> "));
    }
}

#[test]
fn every_module_uses_only_its_layer_and_those_below() {
    let layer_of: BTreeMap<&str, usize> = LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, (_, modules))| modules.iter().map(move |m| (*m, i)))
        .collect();
    let unplaced: Vec<_> = top_modules()
        .into_iter()
        .filter(|m| !layer_of.contains_key(m.as_str()))
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules in no layer (add them to LAYERS here and to the tour in src/lib.rs): {unplaced:?}"
    );
    let mut upward = Vec::new();
    for (module, used) in graph() {
        for (target, files) in used {
            let (from, to) = (layer_of[module.as_str()], layer_of[target.as_str()]);
            if to > from {
                upward.push(format!(
                    "{module} ({}) -> {target} ({}) in {files:?}",
                    LAYERS[from].0, LAYERS[to].0
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "uses of a higher layer:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_tour_in_lib_rs_lists_the_same_layers() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    for (name, modules) in LAYERS {
        let prefix = format!("{name}:");
        let line = lib
            .lines()
            .filter_map(|l| l.strip_prefix("//!"))
            .map(str::trim)
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("src/lib.rs has no `{prefix}` layer line"));
        let named: BTreeSet<&str> = line[prefix.len()..]
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| top_modules().contains(*w))
            .collect();
        let expected: BTreeSet<&str> = modules.iter().copied().collect();
        assert_eq!(named, expected, "layer {name} in src/lib.rs: {line}");
    }
}

#[test]
fn the_checker_finds_a_cycle_and_the_test_code_it_skips() {
    fn edge(g: &mut BTreeMap<String, BTreeSet<String>>, a: &str, b: &str) {
        g.entry(a.into()).or_default().insert(b.into());
    }
    let mut g = BTreeMap::new();
    edge(&mut g, "ingest", "store");
    edge(&mut g, "store", "config");
    assert_eq!(find_cycle(&g), None);
    edge(&mut g, "config", "ingest");
    assert_eq!(
        find_cycle(&g).unwrap(),
        ["config", "ingest", "store", "config"]
    );

    let tops: BTreeSet<String> = ["api", "config", "model", "store"].map(String::from).into();
    let text = "use crate::{model::Event, config};\n\
                // crate::api in a comment\n\
                fn f() { crate::store::open(); }\n\
                #[cfg(test)]\nmod helpers;\n\
                #[cfg(test)]\nmod tests {\n    use crate::api::x;\n}\n";
    let (code, test_files) = production_code(Path::new("/s/src/a/mod.rs"), text);
    assert_eq!(
        references(&code, &tops),
        ["config", "model", "store"].map(String::from).into()
    );
    assert_eq!(test_files[0], Path::new("/s/src/a/helpers.rs"));
}
