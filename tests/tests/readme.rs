//! The README stays true: its Rust blocks are compiled code (each one is quoted verbatim from
//! an example that CI builds and runs), and its set-up commands are the ones CI runs.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The fenced blocks of `markdown` whose info string is `lang`.
fn blocks<'a>(markdown: &'a str, lang: &str) -> Vec<Vec<&'a str>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) if info.trim() == lang => current = Some(Vec::new()),
            (Some(_), Some("")) => blocks.push(current.take().expect("inside a block")),
            (Some(block), _) => block.push(line),
            (None, _) => {}
        }
    }
    blocks
}

/// Whether `block` appears in `file` as consecutive lines, at any one indentation.
fn quotes(file: &str, block: &[&str]) -> bool {
    let lines: Vec<&str> = file.lines().collect();
    let Some(first) = block.first() else {
        return true;
    };
    (0..lines.len()).any(|start| {
        let Some(indent) = lines[start].strip_suffix(first) else {
            return false;
        };
        indent.chars().all(|c| c == ' ')
            && block.iter().enumerate().all(|(k, expected)| {
                lines.get(start + k).is_some_and(|actual| {
                    if expected.trim().is_empty() {
                        actual.trim().is_empty()
                    } else {
                        actual.strip_prefix(indent) == Some(*expected)
                    }
                })
            })
    })
}

#[test]
fn every_rust_block_is_quoted_from_a_compiled_example() {
    let readme = read(&workspace().join("README.md"));
    let examples: Vec<(PathBuf, String)> = std::fs::read_dir(workspace().join("examples/examples"))
        .expect("examples/examples exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| {
            let text = read(&path);
            (path, text)
        })
        .collect();
    let rust_blocks = blocks(&readme, "rust");
    assert!(!rust_blocks.is_empty(), "the README shows code");
    for block in rust_blocks {
        assert!(
            examples.iter().any(|(_, text)| quotes(text, &block)),
            "this README block is not quoted verbatim from any file in examples/examples:\n{}",
            block.join("\n")
        );
    }
}

#[test]
fn the_first_two_commands_are_the_example_and_the_test_command_ci_runs() {
    let readme = read(&workspace().join("README.md"));
    let commands: Vec<&str> = blocks(&readme, "sh").into_iter().flatten().collect();
    assert!(commands.len() >= 2, "the README starts with two commands");
    let (run, test) = (commands[0].trim(), commands[1].trim());
    assert!(run.starts_with("cargo run --example "), "{run}");
    let example = run.trim_start_matches("cargo run --example ");
    assert!(
        workspace()
            .join(format!("examples/examples/{example}.rs"))
            .exists(),
        "the README runs example `{example}`, which does not exist"
    );
    let ci = read(&workspace().join(".ci/run"));
    assert!(
        ci.lines().any(|line| line.trim() == test),
        "`.ci/run` must run the README's test command `{test}` as written"
    );
}

#[test]
fn the_readme_is_one_screen_and_the_manual_is_rustdoc() {
    let readme = read(&workspace().join("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines <= 250,
        "the README has {lines} lines; the manual belongs in the crates' rustdoc"
    );
    assert!(
        readme.contains("https://docs.rs/soft-delete-runtime"),
        "the README links into docs.rs"
    );
}
