//! Which lines a source keeps for the line view: the compiled `lines.keep` conditions and
//! `lines.unparsed`, and the fields stored with a kept line.
//!
//! Deciding is on the hot path and stays cheap: with the `http` profile's default it is one
//! number parsed from the status field per line. Keeping is rare (a 5xx, a line that did not
//! parse) and runs out of line: the field values, the line reference and the copy into the
//! store.

use std::path::Path;
use std::sync::Arc;

use super::holds;
use super::label::{Bufs, LabelRule};
use crate::config::{Condition, LineView};
use crate::parse::Record;
use crate::store::lines::{Origin, SourceLines};
use crate::store::{key_values, push_label};

/// A source's keep rules and its handle into the line store.
pub(super) struct LineKeeper {
    keep: Vec<Vec<Condition>>,
    unparsed: bool,
    fields: Vec<LabelRule>,
    sink: SourceLines,
    /// The file the lines come from (set per batch), as a path and as shown.
    path: std::path::PathBuf,
    file: Arc<str>,
    /// Field values of the line being kept, as a series key (length-prefixed).
    values: Vec<u8>,
}

impl LineKeeper {
    pub(super) fn new(view: &LineView, sink: SourceLines) -> LineKeeper {
        LineKeeper {
            keep: view.keep.clone(),
            unparsed: view.unparsed,
            fields: view.fields.iter().map(LabelRule::new).collect(),
            sink,
            path: Default::default(),
            file: Arc::from(""),
            values: Vec::new(),
        }
    }

    /// Lines from now on come from `path` (compared per batch; copied only when it changes).
    #[inline]
    pub(super) fn set_file(&mut self, path: &Path) {
        if self.path != path {
            path.clone_into(&mut self.path);
            self.file = Arc::from(path.to_string_lossy());
        }
    }

    /// Whether the line (which parsed or not) is one to keep.
    #[inline]
    pub(super) fn wants(&self, parsed: bool, line: &[u8], rec: &Record) -> bool {
        if !parsed {
            return self.unparsed;
        }
        self.keep
            .iter()
            .any(|all| all.iter().all(|c| holds(c, rec.get(line, c.field))))
    }

    /// Keep the line: its field values (when it parsed), reference, time and file.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn keep(
        &mut self,
        line: &[u8],
        rec: &Record,
        parsed: bool,
        (run, seq): (u32, u64),
        time_ms: u64,
        bufs: &mut Bufs,
    ) {
        self.values.clear();
        if parsed {
            for f in &mut self.fields {
                // A field without a value (a probe's menu, a transform with no answer) is
                // stored empty, so that the values that follow keep their names.
                if !f.push_value(line, rec, bufs, &mut self.values) {
                    push_label(&mut self.values, b"");
                }
            }
        }
        let origin = Origin {
            run,
            seq,
            time_ms,
            file: &self.file,
            parsed,
        };
        self.sink.keep(origin, line, key_values(&self.values));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::config::Config;
    use crate::rules::SourceRules;
    use crate::store::lines::{Budget, FieldNames, Limits, LineStore, Query};
    use crate::store::Store;

    fn setup(yaml: &str) -> (Store, Arc<LineStore>, SourceRules) {
        let cfg = Config::from_yaml(yaml, "t.yml").expect("config");
        let store = Store::new();
        let mut rules = SourceRules::compile(&cfg, 0, &store).expect("rules");
        let g = &cfg.global.lines;
        let lines = LineStore::new(
            Limits {
                max_bytes: g.max_bytes,
                max_line_bytes: g.max_line_bytes,
                allow_unauthenticated: false,
            },
            &g.redact,
            &store,
        );
        let v = &cfg.sources[0].lines;
        let names = FieldNames {
            names: v.fields.iter().map(|l| l.name.as_str().into()).collect(),
            exemplar: v.exemplar,
        };
        let budget = Budget::split(v.max_bytes, !v.keep.is_empty(), v.unparsed);
        let sink = lines.source("web", budget, names).expect("enabled");
        rules.keep_lines(v, sink);
        rules.set_file(std::path::Path::new("/var/log/nginx/access.log"));
        (store, lines, rules)
    }

    fn line(status: u16, uri: &str, rid: &str) -> String {
        format!(
            r#"203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "GET {uri} HTTP/1.1" {status} 5 "-" "curl/8" {rid}"#
        )
    }

    const HTTP: &str = r#"
sources:
  - name: web
    paths: [/dev/null]
    format: {nginx: '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_id'}
    profile: http
    tenant: {field: request_uri, regex: '^/t/([a-z]+)', default: none}
    exemplar_field: request_id
"#;

    #[test]
    fn the_http_profile_keeps_5xx_and_unparsed_lines_with_their_fields() {
        let (_, lines, mut rules) = setup(HTTP);
        rules
            .apply(line(200, "/t/acme/mail/read/123?x=1", "r1").as_bytes())
            .unwrap();
        rules
            .apply(line(503, "/t/acme/mail/read/123?x=1", "r2").as_bytes())
            .unwrap();
        let r3 = rules.line_ref();
        rules.apply(line(404, "/a", "r3").as_bytes()).unwrap();
        rules.apply(line(500, "/b", "r4").as_bytes()).unwrap();
        assert!(rules.apply(b"\x1b[2Jgarbage").is_err());
        let all = lines.query(&Query {
            limit: 10,
            ..Default::default()
        });
        assert_eq!(all.matched, 3);
        let [bad, b, a] = &all.lines[..] else {
            panic!("{all:?}")
        };
        assert!(!bad.parsed);
        assert_eq!(&*bad.text, "\\u{1b}[2Jgarbage");
        assert_eq!(b.field("status"), Some("500"));
        assert_eq!(a.field("route"), Some("/t/acme/mail/read/:id"));
        assert_eq!(a.field("method"), Some("GET"));
        assert_eq!(a.field("tenant"), Some("acme"));
        assert_eq!(a.field("request_id"), Some("r2"));
        assert_eq!(a.line_ref(), r3.to_string());
        assert_eq!(&*a.file, "/var/log/nginx/access.log");
        assert!(a.text.starts_with("203.0.113.0 - - ["), "{}", a.text);
        assert!(a.text.contains("/mail/read/123?x=* HTTP"), "{}", a.text);
        let by = |r: &str| {
            lines
                .query(&Query {
                    reference: Some(r.into()),
                    limit: 10,
                    ..Default::default()
                })
                .lines
                .len()
        };
        assert_eq!((by("r2"), by(&r3.to_string()), by("r1")), (1, 1, 0));
    }

    #[test]
    fn kept_lines_carry_the_menu_as_the_metrics_have_it() {
        let (_, lines, mut rules) = setup(HTTP);
        for (status, uri) in [
            (503, "/api/v1/approval/docs/77"),
            (500, "/mail/list"),
            (503, "/app/approval/doc/8"),
            (500, "/.env"),
        ] {
            rules.apply(line(status, uri, "-").as_bytes()).unwrap();
        }
        let menu = |m: &str| {
            let a = lines.query(&Query {
                fields: vec![("menu".into(), m.into())],
                limit: 10,
                ..Default::default()
            });
            a.lines
                .iter()
                .map(|k| k.field("route").unwrap_or("").to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            menu("approval"),
            ["/app/approval/doc/:id", "/api/v1/approval/docs/:id"]
        );
        assert_eq!(menu("mail"), ["/mail/list"]);
        // A scanner probe is no menu: kept, with an empty menu.
        let all = lines.query(&Query {
            limit: 10,
            ..Default::default()
        });
        assert_eq!(all.lines[0].field("menu"), Some(""));
        assert_eq!(all.matched, 4);
    }

    #[test]
    fn keep_rules_replace_the_profile_default() {
        let yaml = format!(
            "{HTTP}    lines:\n      keep: [{{status: 404}}, {{request_uri: {{regex: '^/b'}}}}]\n      unparsed: false\n      fields: {{client: remote_addr}}\n"
        );
        let (_, lines, mut rules) = setup(&yaml);
        for (s, u) in [(503, "/a"), (404, "/a"), (200, "/b"), (200, "/c")] {
            rules.apply(line(s, u, "-").as_bytes()).unwrap();
        }
        let _ = rules.apply(b"garbage");
        let a = lines.query(&Query {
            limit: 10,
            ..Default::default()
        });
        let got: Vec<_> = a.lines.iter().map(|k| k.field("status").unwrap()).collect();
        assert_eq!(got, ["200", "404"]);
        assert_eq!(a.lines[0].field("client"), Some("203.0.113.0"));
    }
}
