//! The configuration reference covers every key the config accepts: the key list comes from
//! the raw types themselves (their JSON schema, which follows the serde attributes), not from
//! a list kept by hand.

use std::collections::BTreeSet;

use serde_json::Value;

use super::raw::RawConfig;

/// Every object key (`properties`) and every enum value (`enum`, `const`) in the schema.
fn walk(v: &Value, keys: &mut BTreeSet<String>, values: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, sub) in m {
                match (k.as_str(), sub) {
                    ("properties", Value::Object(props)) => keys.extend(props.keys().cloned()),
                    ("enum", Value::Array(xs)) => {
                        values.extend(xs.iter().filter_map(|x| x.as_str().map(String::from)))
                    }
                    ("const", Value::String(x)) => {
                        values.insert(x.clone());
                    }
                    _ => {}
                }
                walk(sub, keys, values);
            }
        }
        Value::Array(xs) => xs.iter().for_each(|x| walk(x, keys, values)),
        _ => {}
    }
}

fn accepted() -> (BTreeSet<String>, BTreeSet<String>) {
    let schema = serde_json::to_value(schemars::schema_for!(RawConfig)).expect("schema");
    let (mut keys, mut values) = (BTreeSet::new(), BTreeSet::new());
    walk(&schema, &mut keys, &mut values);
    (keys, values)
}

fn doc(name: &str) -> String {
    let path = format!("{}/docs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_config_key_is_in_the_reference() {
    let (keys, values) = accepted();
    // The walk must see deep into the types, through untagged and tagged enums.
    for k in [
        "sources",
        "series_limit",
        "not_regex",
        "exponential",
        "patterns",
        "nginx",
        "max_lines",
    ] {
        assert!(keys.contains(k), "schema walk missed {k:?}: {keys:?}");
    }
    for v in [
        "http",
        "route",
        "combined",
        "beginning",
        "histogram",
        "scrape",
    ] {
        assert!(values.contains(v), "schema walk missed {v:?}: {values:?}");
    }
    let reference = doc("configuration.md");
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| {
            !["`", ":", "["]
                .iter()
                .any(|end| reference.contains(&format!("`{k}{end}")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "config keys not described in docs/configuration.md: {missing:?}"
    );
    // Enum values (format, profile, transform, type, ... names) are in the reference or,
    // for formats, in docs/formats.md.
    // The complete example in the reference is examples/full.yml, verbatim.
    let full = std::fs::read_to_string(format!("{}/examples/full.yml", env!("CARGO_MANIFEST_DIR")))
        .expect("examples/full.yml");
    let body: Vec<&str> = full.lines().skip_while(|l| l.starts_with('#')).collect();
    assert!(
        reference.contains(&body.join("\n")),
        "docs/configuration.md's complete example differs from examples/full.yml"
    );
    let formats = doc("formats.md");
    let missing: Vec<&String> = values
        .iter()
        .filter(|v| {
            let t = format!("`{v}`");
            !reference.contains(&t) && !formats.contains(&t)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "config values not described in docs/configuration.md or docs/formats.md: {missing:?}"
    );
}
