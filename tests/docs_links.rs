//! Link hygiene of the user documentation: every relative link in README.md, docs/*.md and
//! fuzz/README.md names a file of the repository (and an anchor of it, when it has one), every
//! repository path README.md and docs/*.md cite (`scripts/…`, `examples/…`, `alert-rules/…`)
//! exists, and no file refers to things a user does not have (the authors' machine).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use regex::Regex;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files users read, relative to the repository root.
fn documents() -> Vec<PathBuf> {
    let mut docs = vec![PathBuf::from("README.md"), PathBuf::from("fuzz/README.md")];
    let mut more: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("read docs/")
        .map(|e| PathBuf::from("docs").join(e.expect("docs/ entry").file_name()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

fn read(rel: &Path) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{}: {e}", rel.display()))
}

/// The text outside fenced code blocks, with line numbers (a link in a code block is not one).
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push((i + 1, line));
        }
    }
    out
}

/// The anchors GitHub makes for a Markdown file: one per heading (lower case, spaces to `-`,
/// punctuation but `-` and `_` dropped, `-N` for repeats) and every explicit `id="…"`.
fn anchors(text: &str) -> BTreeSet<String> {
    let id = Regex::new(r#"\bid="([^"]+)""#).expect("regex");
    let mut out = BTreeSet::new();
    for (_, line) in prose(text) {
        if let Some(h) = line.strip_prefix('#') {
            let title = h.trim_start_matches('#').trim().to_lowercase();
            let slug: String = title
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect();
            let mut unique = slug.clone();
            let mut n = 0;
            while out.contains(&unique) {
                n += 1;
                unique = format!("{slug}-{n}");
            }
            out.insert(unique);
        }
        out.extend(id.captures_iter(line).map(|c| c[1].to_string()));
    }
    out
}

/// Relative link targets that do not resolve, as "file:line: target (why)".
fn broken_links(doc: &Path, text: &str) -> Vec<String> {
    let link = Regex::new(r#"\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)"#).expect("regex");
    let dir = doc.parent().unwrap_or(Path::new(""));
    let mut bad = Vec::new();
    for (n, line) in prose(text) {
        for c in link.captures_iter(line) {
            let target = &c[1];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let path = dir.join(file);
            let why = if file.is_empty() {
                (!anchors(text).contains(anchor)).then(|| format!("no heading or id `{anchor}`"))
            } else if file.starts_with('/') {
                Some("absolute path".to_string())
            } else if !root().join(&path).exists() {
                Some("no such file".to_string())
            } else if !anchor.is_empty()
                && path.extension().is_some_and(|x| x == "md")
                && !anchors(&read(&path)).contains(anchor)
            {
                Some(format!("no heading or id `{anchor}` in {}", path.display()))
            } else {
                None
            };
            if let Some(why) = why {
                bad.push(format!("{}:{n}: {target} ({why})", doc.display()));
            }
        }
    }
    bad
}

/// Repository paths cited in the text (`scripts/test`, `alert-rules/tests/*.yml`) that match
/// no file or folder.
fn missing_citations(doc: &Path, text: &str) -> Vec<String> {
    let cited = Regex::new(
        r"(?:^|[^\w./-])((?:\.ci|alert-rules|benches|deploy|docs|examples|fuzz|grafana-dashboards|scripts|src|tests)/[\w./*-]*[\w*])",
    )
    .expect("regex");
    let mut bad = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for c in cited.captures_iter(line) {
            let path = &c[1];
            if !exists(path) {
                bad.push(format!("{}:{}: {path}", doc.display(), n + 1));
            }
        }
    }
    bad
}

/// `path` exists; a `*` in its last part matches any run of characters.
fn exists(path: &str) -> bool {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let Some((head, tail)) = name.split_once('*') else {
        return root().join(path).exists();
    };
    std::fs::read_dir(root().join(dir)).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            let f = e.file_name().to_string_lossy().into_owned();
            f.len() >= head.len() + tail.len() && f.starts_with(head) && f.ends_with(tail)
        })
    })
}

#[test]
fn relative_links_in_the_docs_resolve() {
    let bad: Vec<String> = documents()
        .iter()
        .flat_map(|d| broken_links(d, &read(d)))
        .collect();
    assert!(bad.is_empty(), "broken links:\n{}", bad.join("\n"));
}

#[test]
fn repository_paths_cited_in_the_docs_exist() {
    let bad: Vec<String> = documents()
        .iter()
        .filter(|d| !d.starts_with("fuzz"))
        .flat_map(|d| missing_citations(d, &read(d)))
        .collect();
    assert!(
        bad.is_empty(),
        "cited paths that do not exist:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_checks_catch_what_they_are_for() {
    let doc = Path::new("docs/x.md");
    let text = "# Top heading\n<a id=\"custom\"></a>\n\
        [a](configuration.md) [b](../README.md#logpulse) [c](#top-heading) [d](#custom)\n\
        [e](https://example.com/nope.md) [f](nope.md) [g](configuration.md#no-such-heading)\n\
        [h](/etc/passwd)\n```\n[i](in-a-code-block.md)\n```\n";
    let bad = broken_links(doc, text);
    assert_eq!(bad.len(), 3, "{bad:#?}");
    assert!(bad[0].contains("nope.md (no such file)"), "{bad:#?}");
    assert!(
        bad[1].contains("no heading or id `no-such-heading`"),
        "{bad:#?}"
    );
    assert!(bad[2].contains("/etc/passwd (absolute path)"), "{bad:#?}");

    let text = "Run `scripts/test`, see alert-rules/tests/*.yml and examples/none.yml, \
        not /etc/alertmanager/secrets/x or https://h/docs/nope.md.\n";
    assert_eq!(
        missing_citations(doc, text),
        ["docs/x.md:1: examples/none.yml"]
    );
}

/// Text files of the repository, skipping build output and what the fuzzer writes.
fn repository_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
    {
        let path = e.path();
        let name = e.file_name();
        let skip = [".git", "target", "corpus", "artifacts", "coverage"];
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        if path.is_dir() {
            repository_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn nothing_refers_to_the_authors_machine() {
    // Spelled in pieces so that this file does not match itself.
    let needles = [
        format!("{}/shared", ".."),
        format!("{}.md", "NOTES"),
        format!("/{}/", "work"),
    ];
    let mut files = Vec::new();
    repository_files(&root(), &mut files);
    let mut bad = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue; // binary
        };
        for (n, line) in text.lines().enumerate() {
            if let Some(s) = needles.iter().find(|s| line.contains(s.as_str())) {
                let rel = f.strip_prefix(root()).unwrap_or(&f);
                bad.push(format!("{}:{}: {s}", rel.display(), n + 1));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "machine-specific references:\n{}",
        bad.join("\n")
    );
}
