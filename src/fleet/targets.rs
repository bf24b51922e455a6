//! The agents of a job, as Prometheus finds them: `GET /api/v1/targets?state=active` (the
//! discovery Prometheus already does: file_sd, Kubernetes, Consul...; no registry of our own).

use hyper::Uri;
use regex::Regex;
use serde::Deserialize;

/// One agent to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What dashboards and pages call it: the `instance` label (else the scrape address).
    pub server: String,
    /// Its line view: the scrape URL with `/lines` for the metrics path, no parameters.
    pub lines_url: String,
    /// Prometheus' last word on it (`up`, `down`, `unknown`).
    pub health: String,
    /// Prometheus' last scrape error, if any.
    pub last_error: String,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Data,
    #[serde(default)]
    error: String,
}

#[derive(Default, Deserialize)]
struct Data {
    #[serde(default, rename = "activeTargets")]
    active: Vec<Raw>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
    #[serde(default, rename = "scrapeUrl")]
    scrape_url: String,
    #[serde(default)]
    health: String,
    #[serde(default, rename = "lastError")]
    last_error: String,
}

/// The `/lines` URL of an agent scraped at `scrape`: its metrics path's last segment
/// becomes `lines` (`/metrics` → `/lines`, `/agent/metrics` → `/agent/lines`), parameters go.
pub fn lines_url(scrape: &str) -> Result<String, String> {
    let u: Uri = scrape
        .parse()
        .map_err(|e| format!("scrape URL {scrape:?}: {e}"))?;
    let (Some(scheme), Some(auth)) = (u.scheme_str(), u.authority()) else {
        return Err(format!("scrape URL {scrape:?}: not absolute"));
    };
    let path = u.path();
    let base = match path.rfind('/') {
        Some(i) => &path[..i],
        None => "",
    };
    Ok(format!("{scheme}://{auth}{base}/lines"))
}

/// Active targets whose `job` label fully matches `job` (and `instance` label `instance`),
/// from the targets API's JSON; sorted by server. Errors: the JSON or Prometheus' own error.
pub fn parse(body: &[u8], job: &Regex, instance: Option<&Regex>) -> Result<Targets, String> {
    let a: Answer = serde_json::from_slice(body).map_err(|e| {
        let head = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        format!("not a targets API answer ({e}): {}", super::clean(&head))
    })?;
    if a.status != "success" {
        return Err(format!("Prometheus says {}: {}", a.status, a.error));
    }
    let mut jobs: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for t in a.data.active {
        let j = t.labels.get("job").cloned().unwrap_or_default();
        if !jobs.contains(&j) {
            jobs.push(j.clone());
        }
        if !job.is_match(&j) {
            continue;
        }
        let lines = lines_url(&t.scrape_url)?;
        let server = t
            .labels
            .get("instance")
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| {
                t.scrape_url
                    .parse::<Uri>()
                    .ok()
                    .and_then(|u| u.authority().map(|a| a.to_string()))
                    .unwrap_or_default()
            });
        if instance.is_some_and(|r| !r.is_match(&server)) {
            continue;
        }
        out.push(Target {
            server,
            lines_url: lines,
            health: t.health,
            last_error: t.last_error,
        });
    }
    out.sort_by(|a, b| a.server.cmp(&b.server).then(a.lines_url.cmp(&b.lines_url)));
    jobs.sort();
    Ok(Targets { targets: out, jobs })
}

/// What the targets API gave.
#[derive(Debug)]
pub struct Targets {
    /// The matching targets.
    pub targets: Vec<Target>,
    /// Every job seen (for the message when none matched).
    pub jobs: Vec<String>,
}

/// `^(?:re)$`, as PromQL's `=~` anchors a label regex.
pub fn anchored(re: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{re})$")).map_err(|e| format!("{re:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_url_from_the_scrape_url() {
        assert_eq!(
            lines_url("https://10.0.0.7:9145/metrics").unwrap(),
            "https://10.0.0.7:9145/lines"
        );
        assert_eq!(
            lines_url("http://[::1]:9145/agent/metrics?x=1").unwrap(),
            "http://[::1]:9145/agent/lines"
        );
        assert_eq!(
            lines_url("http://web-1:9145").unwrap(),
            "http://web-1:9145/lines"
        );
        assert!(lines_url("/metrics").is_err());
    }

    const ANSWER: &str = r#"{"status":"success","data":{"activeTargets":[
      {"labels":{"instance":"web-2","job":"logpulse"},"scrapeUrl":"https://10.0.0.2:9145/metrics","health":"up","lastError":""},
      {"labels":{"instance":"web-1","job":"logpulse"},"scrapeUrl":"https://10.0.0.1:9145/metrics","health":"down","lastError":"connection refused"},
      {"labels":{"job":"logpulse-static"},"scrapeUrl":"http://10.0.0.9:9145/metrics","health":"up"},
      {"labels":{"instance":"localhost:9090","job":"prometheus"},"scrapeUrl":"http://localhost:9090/metrics","health":"up"}
    ],"droppedTargets":[]}}"#;

    #[test]
    fn job_is_an_anchored_regex_and_servers_are_instances() {
        let t = parse(ANSWER.as_bytes(), &anchored("logpulse").unwrap(), None).unwrap();
        let servers: Vec<&str> = t.targets.iter().map(|t| t.server.as_str()).collect();
        assert_eq!(servers, ["web-1", "web-2"]);
        assert_eq!(t.targets[0].last_error, "connection refused");
        assert_eq!(t.jobs, ["logpulse", "logpulse-static", "prometheus"]);
        let t = parse(ANSWER.as_bytes(), &anchored("logpulse.*").unwrap(), None).unwrap();
        let servers: Vec<&str> = t.targets.iter().map(|t| t.server.as_str()).collect();
        assert_eq!(servers, ["10.0.0.9:9145", "web-1", "web-2"]);
        let t = parse(
            ANSWER.as_bytes(),
            &anchored("logpulse").unwrap(),
            Some(&anchored("web-2").unwrap()),
        )
        .unwrap();
        assert_eq!(t.targets.len(), 1);
    }

    #[test]
    fn errors_say_what_came_back() {
        let e = parse(b"<html>proxy", &anchored("x").unwrap(), None).unwrap_err();
        assert!(
            e.contains("not a targets API answer") && e.contains("<html>proxy"),
            "{e}"
        );
        let e = parse(
            br#"{"status":"error","error":"bad state"}"#,
            &anchored("x").unwrap(),
            None,
        )
        .unwrap_err();
        assert!(e.contains("bad state"), "{e}");
    }
}
