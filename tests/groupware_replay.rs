//! The groupware example (`examples/groupware.yml`) on a generated 1,000-tenant log, offline
//! (`logpulse replay`): menus per tenant, devices per tenant, errors per tenant and menu,
//! referrers, security events and app versions equal counts made from what each generated line
//! is (tests/groupware/gen.rs), and nothing folds into `__overflow__`. tests/stack_groupware.rs
//! does the same through a real Prometheus.

mod common;
#[path = "groupware/gen.rs"]
mod gen;

use std::process::Command;

use gen::*;

#[test]
fn groupware_example_counts_equal_the_generated_facts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("access.log");
    let mut g = Gen::new(7, 1000, 1);
    let lines: Vec<Line> = (0..40_000)
        .map(|_| g.next("27/Nov/2026:10:00:00 +0900"))
        .collect();
    std::fs::write(
        &log,
        lines.iter().map(|l| l.text.as_str()).collect::<String>(),
    )
    .expect("log");
    let example =
        std::fs::read_to_string(common::root().join("examples/groupware.yml")).expect("example");
    let cfg = dir.path().join("gw.yml");
    std::fs::write(
        &cfg,
        agent_config(&example, &log, &dir.path().join("state")),
    )
    .expect("cfg");

    let out = Command::new(common::bin())
        .args(["replay", "--config"])
        .arg(&cfg)
        .arg(&log)
        .output()
        .expect("replay");
    let expo = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(", 0 parse errors"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !expo.contains("__overflow__"),
        "overflow at the default limits"
    );

    let t = truth(&lines, 30);
    let tenants = samples(&expo, "http_tenant_requests_total");
    let errors = samples(&expo, "http_tenant_errors_total");
    let mut problems = Vec::new();
    let mut check = |what: &str, got, want| {
        if let Some(d) = diff(what, &got, &want) {
            problems.push(d);
        }
    };
    check(
        "menus per tenant",
        sum_by(&tenants, &["tenant", "menu"]),
        keyed2(&t.tenant_menu),
    );
    check(
        "devices per tenant",
        sum_by(&tenants, &["tenant", "device"]),
        keyed2(&t.tenant_device),
    );
    check(
        "errors per tenant and menu",
        sum_by(&errors, &["tenant", "menu", "status_class"]),
        keyed3(&t.tenant_errors),
    );
    check(
        "referrers",
        sum_by(
            &samples(&expo, "http_referrer_requests_total"),
            &["referrer"],
        ),
        keyed1(&t.referrer),
    );
    check(
        "devices",
        sum_by(&samples(&expo, "http_client_requests_total"), &["device"]),
        keyed1(&t.device),
    );
    check(
        "security events",
        sum_by(&samples(&expo, "http_security_events_total"), &["kind"]),
        keyed1(&t.security),
    );
    check(
        "apps",
        sum_by(
            &samples(&expo, "http_app_requests_total"),
            &["app", "app_version"],
        ),
        keyed2(&t.app),
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let n_tenants = sum_by(&tenants, &["tenant"]).len();
    assert_eq!(n_tenants, 1001, "1,000 tenants and `other`");
    println!(
        "{} lines, {} tenant×menu×device series, {} tenant×menu×class error series",
        t.lines,
        tenants.len(),
        errors.len()
    );
}
