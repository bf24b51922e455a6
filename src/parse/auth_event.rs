//! Authentication events in syslog records (`auth.log`, `secure`): each failed attempt and
//! each login once, whether the host logs sshd's own line, PAM's line, or both.
//!
//! One sshd attempt can write two lines: PAM's (`pam_unix(sshd:auth): authentication
//! failure; …`, or `sshd(pam_unix)[pid]: authentication failure; …` on older systems) and
//! then sshd's own (`Failed password for …`). Some hosts write only one of them (sshd's own
//! lines may go to another file, or PAM may not be in sshd's path). Counting either kind alone
//! misses attempts on some hosts; counting both counts attempts twice on the others. So, per
//! host (the syslog `host` field):
//!
//! - sshd's own lines count whenever they are written: `Failed <method> for` (not the
//!   protocol's `none` probe), `Invalid user … from …` (the only trace of a guess on a
//!   key-only server; the first `Failed … for invalid user` of the same sshd process is the
//!   same attempt and does not count again), `Accepted <method> for`.
//! - PAM's lines for sshd count only while the host shows no sshd lines of its own: its first
//!   `authentication failure;` of an sshd process, and the `PAM <n> more authentication
//!   failures;` summary it writes when the connection ends (pam_unix logs the later failures
//!   of one process only there), and `session opened for user`. Once a host shows sshd's own
//!   lines, its PAM lines for sshd are left out; after [`OWN_TTL`] PAM lines in a row without
//!   one of sshd's, the host counts as PAM-only again (its logging changed).
//! - When a host's first sshd event is a PAM failure that counted and sshd's own line for the
//!   same attempt follows, that own line does not count again.
//! - rsyslog's `message repeated <n> times: [ … ]` counts as `n` of the message inside.
//!
//! Other programs as before: su, sudo and login by their own failure lines only (their PAM
//! lines are the same events), every other program (gdm, polkit, vsftpd, cockpit, …) by PAM's
//! failure line; logins by PAM's `session opened` except the sessions machines open (cron,
//! at, systemd's user manager, runuser).
//!
//! Memory is bounded: at most [`HOST_SLOTS`] hosts and [`PID_SLOTS`] sshd processes are
//! remembered, the oldest forgotten first (at worst one attempt of a forgotten process or host
//! counted twice or once too few). What is forgotten does not depend on hash values, so a
//! replay of the same file always gives the same counts.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

/// Hosts remembered at once.
pub const HOST_SLOTS: usize = 1024;
/// sshd processes remembered at once (for `Invalid user` followed by its `Failed` line).
pub const PID_SLOTS: usize = 4096;
/// PAM lines for sshd left out, in a row, before a host counts as PAM-only again.
pub const OWN_TTL: u8 = 32;

/// What a record means for the `auth` profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// This many failed attempts.
    Failure(u32),
    /// This many logins.
    Login(u32),
}

#[derive(Debug, Clone, Copy, Default)]
struct HostSlot {
    /// sshd's own lines seen lately (a countdown, see [`OWN_TTL`]).
    own: u8,
    /// The host's last sshd failure event was a PAM line that counted.
    pending_pam: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct PidSlot {
    /// `Invalid user` counted; the process's first `Failed … for invalid user` is the same
    /// attempt.
    invalid_pending: bool,
}

/// A map of at most `cap` entries that forgets the oldest inserted first.
#[derive(Debug)]
struct Bounded<V> {
    map: HashMap<u64, V, foldhash::fast::RandomState>,
    order: VecDeque<u64>,
    cap: usize,
}

impl<V: Default> Bounded<V> {
    fn new(cap: usize) -> Self {
        Bounded {
            map: HashMap::default(),
            order: VecDeque::new(),
            cap,
        }
    }

    /// The entry of `key`, made (and the oldest forgotten when full) if new.
    fn entry(&mut self, key: u64) -> &mut V {
        if !self.map.contains_key(&key) {
            if self.map.len() >= self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
            self.order.push_back(key);
        }
        self.map.entry(key).or_default()
    }
}

/// The state kept across records.
#[derive(Debug)]
pub struct AuthTracker {
    hosts: Bounded<HostSlot>,
    pids: Bounded<PidSlot>,
    /// Randomly seeded: host names and pids come from log lines (keys are 64-bit hashes).
    hasher: foldhash::fast::RandomState,
}

impl Default for AuthTracker {
    fn default() -> Self {
        AuthTracker {
            hosts: Bounded::new(HOST_SLOTS),
            pids: Bounded::new(PID_SLOTS),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl Clone for AuthTracker {
    /// A fresh tracker: state belongs to one stream of records.
    fn clone(&self) -> Self {
        AuthTracker::default()
    }
}

/// What one record says, before the host's state decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A program's own failure line (`n` events).
    OwnFailure(u32),
    /// sshd's `Invalid user`.
    InvalidUser,
    /// sshd's `Failed none for`: no attempt, but the host logs sshd's lines.
    Probe,
    /// PAM's failure line or its `n more` summary.
    PamFailure(u32),
    /// sshd's `Accepted … for`.
    OwnLogin(u32),
    /// PAM's `session opened for user`, not a machine's session.
    PamSession(u32),
}

fn is_sshd(service: &[u8]) -> bool {
    matches!(service, b"sshd" | b"sshd-session" | b"sshd-auth")
}

/// Programs whose own failure lines count, so that their PAM lines do not.
fn writes_own_failures(service: &[u8]) -> bool {
    is_sshd(service) || matches!(service, b"su" | b"sudo" | b"login")
}

/// Programs opening sessions for machines, not people.
fn machine_program(service: &[u8]) -> bool {
    matches!(
        service,
        b"cron" | b"CRON" | b"crond" | b"atd" | b"systemd" | b"(systemd)" | b"runuser"
    )
}

/// PAM stacks of machine sessions, in `pam_unix(<stack>:session)`.
fn machine_stack(stack: &[u8]) -> bool {
    matches!(
        stack,
        b"cron" | b"crond" | b"atd" | b"systemd-user" | b"runuser" | b"runuser-l"
    )
}

/// `message repeated 5 times: [ inner]` → (5, inner).
fn unrepeat(msg: &[u8]) -> (u32, &[u8]) {
    let Some(rest) = msg.strip_prefix(b"message repeated ") else {
        return (1, msg);
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let n = number(rest.get(..digits).unwrap_or_default());
    match rest
        .get(digits..)
        .and_then(|r| r.strip_prefix(b" times: ["))
        .map(|r| r.strip_prefix(b" ").unwrap_or(r))
    {
        Some(inner) if n > 0 => (n, inner.strip_suffix(b"]").unwrap_or(inner)),
        _ => (1, msg),
    }
}

fn number(d: &[u8]) -> u32 {
    if d.is_empty() || d.len() > 6 || !d.iter().all(u8::is_ascii_digit) {
        return 0;
    }
    d.iter().fold(0, |v, b| v * 10 + u32::from(b - b'0'))
}

/// A PAM module's `pam_unix(sshd:auth): ` prefix: (the stack's name, the rest).
fn pam_prefix(msg: &[u8]) -> (Option<&[u8]>, &[u8]) {
    if !msg.starts_with(b"pam_") {
        return (None, msg);
    }
    let Some(open) = memchr::memchr(b'(', msg) else {
        return (None, msg);
    };
    let Some(close) = memchr::memchr(b')', msg.get(open..).unwrap_or_default()).map(|i| open + i)
    else {
        return (None, msg);
    };
    let Some(rest) = msg.get(close + 1..).and_then(|r| r.strip_prefix(b": ")) else {
        return (None, msg);
    };
    let inner = msg.get(open + 1..close).unwrap_or_default();
    let stack = inner.split(|&b| b == b':').next().unwrap_or_default();
    (Some(stack), rest)
}

/// `sudo`'s ` alice : 3 incorrect password attempts ;` / `user NOT in sudoers ;`.
fn sudo_failure(msg: &[u8]) -> bool {
    let m = msg.trim_ascii_start();
    let Some(sep) = memchr::memmem::find(m, b" : ") else {
        return false;
    };
    if m.get(..sep).is_some_and(|u| u.contains(&b' ')) {
        return false;
    }
    let rest = m.get(sep + 3..).unwrap_or_default();
    if rest.starts_with(b"user NOT in sudoers ;") {
        return true;
    }
    let d = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    d > 0
        && (rest.get(d..).is_some_and(|r| {
            r.starts_with(b" incorrect password attempts ;")
                || r.starts_with(b" incorrect password attempt ;")
        }))
}

/// `Failed <method> for `: the method.
fn failed_method(msg: &[u8]) -> Option<&[u8]> {
    let rest = msg.strip_prefix(b"Failed ")?;
    let sp = memchr::memchr(b' ', rest)?;
    rest.get(sp..)?.starts_with(b" for ").then(|| &rest[..sp])
}

fn classify(service: &[u8], msg: &[u8]) -> Option<Kind> {
    let (n, msg) = unrepeat(msg);
    let sshd = is_sshd(service);
    if let Some(method) = failed_method(msg) {
        return Some(if sshd && method == b"none" {
            Kind::Probe
        } else {
            Kind::OwnFailure(n)
        });
    }
    if msg.starts_with(b"Invalid user ") || msg.starts_with(b"Illegal user ") {
        return Some(if sshd {
            Kind::InvalidUser
        } else {
            Kind::OwnFailure(n)
        });
    }
    if msg.starts_with(b"FAILED SU ")
        || msg.starts_with(b"FAILED su for ")
        || msg.starts_with(b"FAILED LOGIN ")
        || sudo_failure(msg)
    {
        return Some(Kind::OwnFailure(n));
    }
    if msg.starts_with(b"Accepted ") && memchr::memmem::find(msg, b" for ").is_some() {
        return Some(if sshd {
            Kind::OwnLogin(n)
        } else {
            Kind::PamSession(n)
        });
    }
    let (stack, body) = pam_prefix(msg);
    if body.starts_with(b"authentication failure;") {
        return Some(Kind::PamFailure(n));
    }
    // `PAM 5 more authentication failures;` (the rest of one process's failures)
    let more = body.strip_prefix(b"PAM ").unwrap_or(body);
    let d = more.iter().take_while(|b| b.is_ascii_digit()).count();
    if d > 0
        && more.get(d..).is_some_and(|r| {
            r.starts_with(b" more authentication failures;")
                || r.starts_with(b" more authentication failure;")
        })
    {
        let k = number(more.get(..d).unwrap_or_default());
        return (k > 0).then_some(Kind::PamFailure(k.saturating_mul(n)));
    }
    if body.starts_with(b"session opened for user ") {
        let machine = stack.is_some_and(machine_stack) || machine_program(service);
        return (!machine).then_some(Kind::PamSession(n));
    }
    None
}

impl AuthTracker {
    /// The event a record makes (`service` is syslog's program without its `(…)` suffix).
    pub fn observe(
        &mut self,
        host: &[u8],
        service: &[u8],
        pid: &[u8],
        message: &[u8],
    ) -> Option<Event> {
        let kind = classify(service, message)?;
        if !is_sshd(service) {
            return match kind {
                Kind::OwnFailure(n) => Some(Event::Failure(n)),
                Kind::PamFailure(n) if !writes_own_failures(service) => Some(Event::Failure(n)),
                Kind::PamSession(n) => Some(Event::Login(n)),
                _ => None,
            };
        }
        let hk = self.hasher.hash_one(host);
        let pk = self.hasher.hash_one((hk, pid));
        let h = self.hosts.entry(hk);
        match kind {
            Kind::PamFailure(_) | Kind::PamSession(_) if h.own > 0 => {
                h.own -= 1;
                None
            }
            Kind::PamFailure(n) => {
                h.pending_pam = true;
                Some(Event::Failure(n))
            }
            Kind::PamSession(n) => Some(Event::Login(n)),
            Kind::Probe => {
                h.own = OWN_TTL;
                None
            }
            Kind::OwnLogin(n) => {
                h.own = OWN_TTL;
                h.pending_pam = false;
                Some(Event::Login(n))
            }
            Kind::InvalidUser => {
                h.own = OWN_TTL;
                h.pending_pam = false;
                self.pids.entry(pk).invalid_pending = true;
                Some(Event::Failure(1))
            }
            Kind::OwnFailure(mut n) => {
                h.own = OWN_TTL;
                // The PAM line of this attempt counted while the host looked PAM-only.
                if std::mem::take(&mut h.pending_pam) {
                    n -= 1;
                }
                // The `Invalid user` line of this process counted its first attempt.
                if n > 0 {
                    if let Some(p) = self.pids.map.get_mut(&pk) {
                        if std::mem::take(&mut p.invalid_pending) {
                            n -= 1;
                        }
                    }
                }
                (n > 0).then_some(Event::Failure(n))
            }
        }
    }
}

#[cfg(test)]
#[path = "auth_event_tests.rs"]
mod tests;
