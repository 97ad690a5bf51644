//! The public API of `cronlock` is written down in `tests/public-api.txt`;
//! this test fails when the code's public items differ from it, so the API
//! does not grow (or shrink) by accident. After an intended change:
//! `UPDATE_PUBLIC_API=1 cargo test -p cronlock --test public_api`, then read
//! the diff.
//!
//! It reads the source: every top-level `pub` item and `pub use` name of the
//! crate root and of each public module (`#[doc(hidden)]` modules, the macro
//! plumbing, are left out). Methods are not listed; their types are.

use std::path::{Path, PathBuf};

/// The public names declared at the top level of `source`, and the public
/// modules it declares (with whether they are hidden).
fn scan(source: &str) -> (Vec<String>, Vec<(String, bool)>) {
    let mut names = Vec::new();
    let mut modules = Vec::new();
    let mut hidden = false;
    let mut lines = source.lines().peekable();
    while let Some(line) = lines.next() {
        if line.starts_with("#[doc(hidden)]") {
            hidden = true;
            continue;
        }
        if line.starts_with("#[") || line.starts_with("//") {
            continue;
        }
        let Some(rest) = line.strip_prefix("pub ") else {
            hidden = false;
            continue;
        };
        if let Some(module) = rest.strip_prefix("mod ") {
            modules.push((module.trim_end_matches(';').to_owned(), hidden));
        } else if let Some(uses) = rest.strip_prefix("use ") {
            let mut text = uses.to_owned();
            while !text.contains(';') {
                match lines.next() {
                    Some(more) => text.push_str(more),
                    None => break,
                }
            }
            let inner = match (text.find('{'), text.rfind('}')) {
                (Some(open), Some(close)) => text[open + 1..close].to_owned(),
                _ => text.rsplit("::").next().unwrap_or_default().to_owned(),
            };
            for part in inner.split(',') {
                let part = part.trim().trim_end_matches(';');
                let name = part.rsplit(" as ").next().unwrap_or(part);
                let name = name.rsplit("::").next().unwrap_or(name).trim();
                if !name.is_empty() && name != "self" {
                    names.push(name.to_owned());
                }
            }
        } else {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let kinds = ["fn", "struct", "enum", "trait", "const", "type", "static"];
            if let Some(at) = words.iter().position(|word| kinds.contains(word))
                && let Some(name) = words.get(at + 1)
            {
                let name: String = name
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    names.push(format!("{} {name}", words[at]));
                }
            }
        }
        hidden = false;
    }
    (names, modules)
}

/// The file of module `name` declared in the file `parent`.
fn module_file(parent: &Path, name: &str) -> PathBuf {
    let dir = match parent.file_name().and_then(|f| f.to_str()) {
        Some("lib.rs" | "mod.rs") => parent.parent().expect("a folder").to_path_buf(),
        _ => parent.with_extension(""),
    };
    let flat = dir.join(format!("{name}.rs"));
    if flat.exists() {
        flat
    } else {
        dir.join(name).join("mod.rs")
    }
}

fn collect(path: &Path, prefix: &str, out: &mut Vec<String>) {
    let source =
        std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let (names, modules) = scan(&source);
    out.extend(names.into_iter().map(|name| format!("{prefix} {name}")));
    for (module, hidden) in modules {
        if hidden {
            continue;
        }
        let file = module_file(path, &module);
        collect(&file, &format!("{prefix}::{module}"), out);
    }
}

#[test]
fn the_public_api_is_the_written_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut api = Vec::new();
    collect(&root.join("src/lib.rs"), "cronlock", &mut api);
    api.sort();
    api.dedup();
    let text = format!("{}\n", api.join("\n"));
    let written = root.join("tests/public-api.txt");
    if std::env::var_os("UPDATE_PUBLIC_API").is_some() {
        std::fs::write(&written, &text).expect("write the API list");
        return;
    }
    let expected = std::fs::read_to_string(&written).unwrap_or_default();
    assert!(
        expected == text,
        "the public API changed; if intended, run UPDATE_PUBLIC_API=1 cargo test -p cronlock --test public_api\n--- written\n{expected}\n--- now\n{text}"
    );
}
