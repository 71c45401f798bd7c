//! The module graph points one way. Each module of `src/` may refer (by a `crate::`, `super::`
//! or `self::` path in its code; comments, strings and `#[cfg(test)]` items are not read) only
//! to the modules of lower layers in [`LAYERS`]. An edge to a module of the same layer or a
//! higher one fails the test, naming the files: the graph stays acyclic, and a capability does
//! not reach into another one's insides.
//!
//! `error` is the exception: every module returns the crate's [`Error`](crate::Error), and it
//! names the types of a few (a conflict, a blocker, a purge report).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The modules, lowest first: each may use the layers before its own. A name with `::` stands
/// for that submodule alone, apart from its parent.
const LAYERS: &[&[&str]] = &[
    // The one time type the API takes and returns (chrono's or time's underneath).
    &["timestamp"],
    // The SQL layer: the sealed backend trait, dialects and quoting, statements built at run
    // time, the row shapes they load, the classification of database errors.
    &["sql", "trace", "error"],
    // Its public face (`backend::SupportedBackend`, `Dialect`, `TableName`).
    &["backend"],
    // Running statements sync or async, transactions, and what a connection must run.
    &["exec"],
    // The catalog's questions, asked through an executor.
    &["sql::catalog", "sql::constraints"],
    // The model layer: what a soft delete records, the traits the derive implements on tables
    // and markers, the scopes, the writes, the types they return, the model trait, the ids of
    // rows.
    &["deletion"],
    &["table"],
    &["query"],
    &["write"],
    &["dsl"],
    &["model"],
    &["row_id"],
    // The capabilities, each on the layers above.
    &["unique"],
    // The relation graph declared on the models, which the capabilities below walk.
    &["relations"],
    &["ddl::journal", "ddl::archive_log"],
    &["collector"],
    &["ddl"],
    &["guard"],
    &["deferred", "purge"],
    &["schema"],
    // The async API and the crate's face.
    &["asynchronous", "prelude", "layers"],
    &[""],
];

/// Edges against the order that are known and not yet removed, each with its reason. Every
/// one listed must still exist (the test fails when one is gone, to keep this list short).
const KNOWN: &[(&str, &str, &str)] = &[];

/// Items the crate root re-exports, by the module that defines them.
const ROOT_ITEMS: &[(&str, &str)] = &[
    ("Error", "error"),
    ("Timestamp", "timestamp"),
    ("Result", "error"),
    ("RowId", "row_id"),
    ("IdOf", "row_id"),
    ("ParseId", "row_id"),
    ("RowIdError", "row_id"),
    ("SoftDelete", "model"),
    ("SoftDeleteTable", "table"),
    ("hard_delete", "write"),
    ("marker", "write"),
    ("restore", "write"),
    ("restore_and_set", "write"),
    ("soft_delete", "write"),
    ("soft_delete_and_set", "write"),
    ("soft_delete_with", "write"),
    ("Deletion", "deletion"),
    ("DeletionOf", "write"),
    ("Marked", "write"),
];

#[test]
fn modules_use_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&src) {
        let relative = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let from = node(&module_of(&relative));
        for path in crate_paths(&code_of(&text), &module_of(&relative)) {
            let Some(to) = target(&path) else {
                panic!(
                    "{relative}: `crate::{}` names no module of LAYERS",
                    path.join("::")
                )
            };
            if to != from && to != "error" && from != "error" {
                edges
                    .entry((from.clone(), to))
                    .or_default()
                    .insert(relative.clone());
            }
        }
    }
    let rank = |name: &str| {
        LAYERS
            .iter()
            .position(|layer| layer.contains(&name))
            .unwrap_or_else(|| panic!("module `{name}` is in no layer of LAYERS"))
    };
    let mut wrong = Vec::new();
    for ((from, to), files) in &edges {
        let known = KNOWN.iter().any(|(f, t, _)| f == from && t == to);
        if rank(to) >= rank(from) && !known {
            let files: Vec<&str> = files.iter().map(String::as_str).collect();
            wrong.push(format!("{from} -> {to} ({})", files.join(", ")));
        }
    }
    assert!(
        wrong.is_empty(),
        "edges to the same or a higher layer:\n{}",
        wrong.join("\n")
    );
    for (from, to, _) in KNOWN {
        assert!(
            edges.contains_key(&(from.to_string(), to.to_string())),
            "the known edge {from} -> {to} is gone: remove it from KNOWN"
        );
    }
}

#[test]
fn paths_are_read_from_code_only() {
    let text = r##"
        use crate::a::{b, c::{d, e}, self};
        use super::f;
        // crate::comment
        /* crate::block */
        let s = "crate::string";
        let r = r#"crate::raw"#;
        let c = '"';
        fn g<'a>(x: &'a crate::h::I) {}
        mod inner { use super::j; }
        #[cfg(test)]
        mod tests { use crate::test_only; }
    "##;
    let paths = crate_paths(&code_of(text), &["m".to_owned(), "n".to_owned()]);
    let paths: BTreeSet<String> = paths.iter().map(|p| p.join("::")).collect();
    let expected: BTreeSet<String> = ["a::b", "a::c::d", "a::c::e", "a", "m::f", "h::I", "m::n::j"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(paths, expected);
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The module a file under `src/` holds: `lib.rs` the root, `a/mod.rs` and `a.rs` module `a`.
fn module_of(relative: &str) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The node of LAYERS a module belongs to: the longest name that is a prefix of its path (the
/// root's is `""`).
fn node(module: &[String]) -> String {
    if module.is_empty() {
        return String::new();
    }
    (1..=module.len())
        .rev()
        .map(|n| module[..n].join("::"))
        .find(|name| LAYERS.iter().any(|layer| layer.contains(&name.as_str())))
        .unwrap_or_else(|| panic!("module `{}` is in no layer of LAYERS", module.join("::")))
}

/// The node a path from the crate root leads to; `None` for a root item LAYERS cannot place.
fn target(path: &[String]) -> Option<String> {
    match path {
        [] => Some(String::new()),
        [item, ..] if item.starts_with(char::is_uppercase) || path.len() == 1 => ROOT_ITEMS
            .iter()
            .find(|(name, _)| name == item)
            .map(|(_, module)| module.to_string())
            .or_else(|| {
                LAYERS
                    .iter()
                    .any(|layer| layer.contains(&item.as_str()))
                    .then(|| node(path))
            }),
        _ => Some(node(path)),
    }
}

/// `text` with its comments, string and character literals and `#[cfg(test)]` items blanked.
fn code_of(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && matches!(next, Some('#' | '"')) && !ident_before(&chars, i) {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let end: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let rest: String = chars[i + 2 + hashes..].iter().collect();
            let len = rest.find(&end).map_or(rest.len(), |n| n + end.len());
            i += 2 + hashes + rest[..len].chars().count();
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (chars.get(i + 2) == Some(&'\'') || next == Some('\\')) {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    without_test_items(&out)
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// `code` without the items under `#[cfg(test)]` (up to their `;` or their closing brace).
fn without_test_items(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let (brace, semi) = (item.find('{'), item.find(';'));
        let end = match (brace, semi) {
            (Some(b), Some(s)) if s < b => s + 1,
            (Some(b), _) => {
                let mut depth = 0;
                let mut end = item.len();
                for (n, ch) in item[b..].char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = b + n + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (None, Some(s)) => s + 1,
            (None, None) => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// Every path from the crate root that `code`, the code of module `module`, names: `crate::`
/// paths, and `super::` and `self::` ones resolved (inside inline `mod x { ... }` too), with
/// `use` groups expanded.
fn crate_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let mut paths = Vec::new();
    // The module at each point: the file's, plus the inline modules open there.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            depth += 1;
        } else if c == '}' {
            depth -= 1;
            if inline.last().is_some_and(|(_, d)| *d == depth) {
                inline.pop();
            }
        }
        if c.is_alphabetic()
            && !ident_before(&chars, i)
            && (i == 0 || !matches!(chars[i - 1], ':' | '$'))
        {
            let word: String = chars[i..]
                .iter()
                .take_while(|ch| ch.is_alphanumeric() || **ch == '_')
                .collect();
            let after = i + word.chars().count();
            if word == "mod" {
                let rest: String = chars[after..].iter().collect();
                let name: String = rest
                    .trim_start()
                    .chars()
                    .take_while(|ch| ch.is_alphanumeric() || *ch == '_')
                    .collect();
                let tail = rest.trim_start()[name.len()..].trim_start();
                if tail.starts_with('{') {
                    inline.push((name, depth));
                }
            } else if matches!(word.as_str(), "crate" | "super" | "self")
                && chars.get(after) == Some(&':')
                && chars.get(after + 1) == Some(&':')
            {
                let here: Vec<String> = module
                    .iter()
                    .cloned()
                    .chain(inline.iter().map(|(name, _)| name.clone()))
                    .collect();
                let (found, end) = read_path(&chars, i);
                for path in found {
                    if let Some(path) = resolve(&path, &here) {
                        paths.push(path);
                    }
                }
                i = end;
                continue;
            }
            i = after;
            continue;
        }
        i += 1;
    }
    paths
}

/// The paths of the path (or `use` tree) starting at `chars[start]`, and where it ends.
fn read_path(chars: &[char], start: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    let mut i = start;
    loop {
        while chars.get(i).is_some_and(|c| c.is_whitespace()) {
            i += 1;
        }
        if chars.get(i) == Some(&'{') {
            let mut paths = Vec::new();
            i += 1;
            loop {
                while chars.get(i).is_some_and(|c| c.is_whitespace() || *c == ',') {
                    i += 1;
                }
                if chars.get(i).is_none_or(|c| *c == '}') {
                    return (paths, i + 1);
                }
                let (inner, end) = read_path(chars, i);
                for path in inner {
                    let mut full = prefix.clone();
                    full.extend(path.into_iter().filter(|s: &String| s != "self"));
                    paths.push(full);
                }
                i = end;
                // Skip `as name`.
                while chars.get(i).is_some_and(|c| *c != ',' && *c != '}') {
                    i += 1;
                }
            }
        }
        let word: String = chars[i..]
            .iter()
            .take_while(|c| c.is_alphanumeric() || **c == '_' || **c == '*')
            .collect();
        i += word.chars().count();
        if !word.is_empty() && word != "*" {
            prefix.push(word);
        }
        if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
            i += 2;
        } else {
            return (vec![prefix], i);
        }
    }
}

/// `path`, which starts with `crate`, `super` or `self`, from the crate root; written in
/// module `here`.
fn resolve(path: &[String], here: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String> = here.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}
