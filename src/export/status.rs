//! The status page (`/`): what the agent reports, rendered as HTML. Everything shown is escaped:
//! source names, paths and errors can carry log content, which is attacker-controlled.

use std::fmt::Write as _;

use super::escape::push_html;
use crate::store::Store;

/// What the status page shows; filled by the agent.
#[derive(Debug, Default, Clone)]
pub struct StatusPage {
    /// Agent version.
    pub version: String,
    /// Listen address.
    pub listen: String,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Checkpoint file (or `none`).
    pub checkpoint_file: String,
    /// How checkpoint saves go.
    pub checkpoint_state: CheckpointState,
    /// One row per source.
    pub sources: Vec<SourceRow>,
    /// One row per followed file.
    pub files: Vec<FileRow>,
    /// One row per metric family.
    pub metrics: Vec<MetricRow>,
}

/// How checkpoint saves go.
#[derive(Debug, Default, Clone)]
pub enum CheckpointState {
    /// Nothing saved yet.
    #[default]
    NotSavedYet,
    /// Last saved that many seconds ago.
    SavedSecsAgo(u64),
    /// Saves fail, for this reason.
    Failing(String),
}

/// A source's row.
#[derive(Debug, Default, Clone)]
pub struct SourceRow {
    /// Source name.
    pub name: String,
    /// Lines read.
    pub lines: f64,
    /// Lines that did not parse.
    pub parse_errors: f64,
    /// Files followed.
    pub files: f64,
    /// Bytes written but not read yet.
    pub lag_bytes: f64,
    /// Its thread is running.
    pub running: bool,
    /// Last file error.
    pub last_error: Option<String>,
}

/// A followed file's row.
#[derive(Debug, Default, Clone)]
pub struct FileRow {
    /// Source name.
    pub source: String,
    /// Path.
    pub path: String,
    /// Offset up to which lines are applied.
    pub offset: u64,
}

/// A metric family's row.
#[derive(Debug, Default, Clone)]
pub struct MetricRow {
    /// Metric name.
    pub name: String,
    /// Series counted against the limit.
    pub series: usize,
    /// Series made by folding at the limit.
    pub folded: usize,
    /// Updates folded.
    pub dropped: u64,
}

/// One row per family of `store`, in registration order.
pub fn metric_rows(store: &Store) -> Vec<MetricRow> {
    store
        .families()
        .iter()
        .map(|f| MetricRow {
            name: f.desc().name.clone(),
            series: f.len(),
            folded: f.folded_len(),
            dropped: f.dropped(),
        })
        .collect()
}

fn cell(h: &mut String, class: &str, text: &str) {
    h.push_str("<td");
    if !class.is_empty() {
        h.push_str(" class=");
        h.push_str(class);
    }
    h.push('>');
    push_html(h, text);
    h.push_str("</td>");
}

fn num(h: &mut String, v: impl std::fmt::Display) {
    let _ = write!(h, "<td class=num>{v}</td>");
}

/// Render the page.
pub fn render(p: &StatusPage) -> String {
    let mut h = String::from(
        "<!doctype html><meta charset=utf-8><title>logpulse</title>\
         <style>body{font:14px system-ui,sans-serif;margin:2em}td,th{padding:2px 10px;text-align:left}\
         th{background:#eee}.num{text-align:right}.bad{color:#b00}</style><h1>logpulse</h1><p>version ",
    );
    push_html(&mut h, &p.version);
    h.push_str(" · listening on ");
    push_html(&mut h, &p.listen);
    let _ = write!(
        h,
        " · up {}s · <a href=/metrics>/metrics</a> · <a href=/healthz>/healthz</a> · <a href=\"/lines?format=html\">recent lines</a></p>",
        p.uptime_secs
    );
    h.push_str("<p>checkpoints: ");
    push_html(&mut h, &p.checkpoint_file);
    h.push_str(" · ");
    match &p.checkpoint_state {
        CheckpointState::Failing(e) => {
            h.push_str("<span class=bad>failing: ");
            push_html(&mut h, e);
            h.push_str("</span>");
        }
        CheckpointState::SavedSecsAgo(s) => {
            let _ = write!(h, "saved {s}s ago");
        }
        CheckpointState::NotSavedYet => h.push_str("not saved yet"),
    }
    h.push_str("</p>");
    h.push_str("<h2>Sources</h2><table><tr><th>source</th><th>lines</th><th>parse errors</th><th>files</th><th>lag bytes</th><th>state</th><th>last error</th></tr>");
    for s in &p.sources {
        h.push_str("<tr>");
        cell(&mut h, "", &s.name);
        num(&mut h, s.lines);
        num(&mut h, s.parse_errors);
        num(&mut h, s.files);
        num(&mut h, s.lag_bytes);
        h.push_str(if s.running {
            "<td>running</td>"
        } else {
            "<td><span class=bad>not running</span></td>"
        });
        cell(&mut h, "", s.last_error.as_deref().unwrap_or(""));
        h.push_str("</tr>");
    }
    h.push_str("</table><h2>Files</h2><table><tr><th>source</th><th>file</th><th>offset</th></tr>");
    for f in &p.files {
        h.push_str("<tr>");
        cell(&mut h, "", &f.source);
        cell(&mut h, "", &f.path);
        num(&mut h, f.offset);
        h.push_str("</tr>");
    }
    h.push_str("</table><h2>Series per metric</h2><table><tr><th>metric</th><th>series</th><th>folded at the limit</th><th>updates folded</th></tr>");
    for m in &p.metrics {
        h.push_str("<tr>");
        cell(&mut h, "", &m.name);
        num(&mut h, m.series);
        num(&mut h, m.folded);
        num(&mut h, m.dropped);
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_shown_is_escaped() {
        let evil = "<img src=x onerror=alert(1)>\u{1b}]0;owned\u{7}";
        let p = StatusPage {
            version: "1".into(),
            listen: evil.into(),
            uptime_secs: 3,
            checkpoint_file: evil.into(),
            checkpoint_state: CheckpointState::Failing(evil.into()),
            sources: vec![SourceRow {
                name: evil.into(),
                last_error: Some(evil.into()),
                ..Default::default()
            }],
            files: vec![FileRow {
                source: evil.into(),
                path: evil.into(),
                offset: 7,
            }],
            metrics: vec![MetricRow {
                name: evil.into(),
                ..Default::default()
            }],
        };
        let h = render(&p);
        assert!(!h.contains("<img"), "{h}");
        assert!(!h.contains('\u{1b}') && !h.contains('\u{7}'), "{h}");
        assert_eq!(
            h.matches("&lt;img src=x onerror=alert(1)&gt;").count(),
            8,
            "{h}"
        );
    }
}
