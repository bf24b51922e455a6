//! HTTP basic authentication against the web config's bcrypt hashes, with a bounded cost.
//!
//! bcrypt is slow on purpose (~70 ms at cost 10), so:
//! - credentials that verified are remembered per user and hash, and compared in constant time
//!   afterwards (exporter-toolkit caches them too); a changed hash verifies again. Wrong guesses
//!   can never push them out: they live apart from the failures;
//! - credentials that failed are remembered as a keyed 64-bit digest (not the password), at
//!   most [`FAILED_CACHE`] of them: a scraper left with an old password costs one bcrypt, not
//!   one per scrape;
//! - everything else costs a bcrypt, paid from the client's budget ([`BUDGET_BURST`] at once,
//!   one more every [`BUDGET_INTERVAL`]; a success gives its token back). A client has at most
//!   one check waiting, at most [`MAX_WAITING`] wait in all, and one runs at a time on the
//!   blocking pool. Past any of these the answer is "throttled" at once (429), without a
//!   bcrypt, so a password-guessing flood costs a bounded amount of CPU per client and
//!   requests with remembered credentials (Prometheus) never wait behind it.
//!
//! An unknown user is checked against a configured hash anyway, so it takes as long as a known
//! one (no user enumeration by timing).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::clients::{Bucket, ClientKey, ClientTable, Forgettable};
use crate::store::Series;

/// Password checks a client may run at once before its budget refills.
pub const BUDGET_BURST: u32 = 10;
/// One more check per client every this long.
pub const BUDGET_INTERVAL: Duration = Duration::from_secs(1);
/// Checks waiting for the bcrypt slot, all clients together.
pub const MAX_WAITING: usize = 8;
/// Failed credentials remembered.
pub const FAILED_CACHE: usize = 256;
/// Clients whose budget is remembered.
const CLIENTS: usize = 4096;

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The credentials of this user.
    Ok(String),
    /// No credentials, unparseable ones, an unknown user or a wrong password.
    Wrong,
    /// Not checked: the client has a check waiting, spent its budget, or too many wait.
    Throttled,
}

struct Budget {
    bucket: Bucket,
    pending: bool,
}

impl Forgettable for Budget {
    fn is_fresh(&self, now: Instant) -> bool {
        !self.pending && self.bucket.full_by(BUDGET_INTERVAL, BUDGET_BURST, now)
    }
}

/// Remembers verified credentials and bounds the cost of the rest; one per server.
pub struct Authenticator {
    /// user → (hash it was verified against, password).
    verified: Mutex<HashMap<String, (String, Vec<u8>)>>,
    /// Digests of (user, hash, password) that failed, oldest first.
    failed: Mutex<VecDeque<u64>>,
    seed: foldhash::fast::RandomState,
    clients: Mutex<ClientTable<ClientKey, Budget>>,
    waiting: AtomicUsize,
    bcrypt_slot: Semaphore,
    /// Counts bcrypt runs (`logpulse_http_bcrypt_verifications_total`).
    runs: Arc<Series>,
}

/// `Authorization: Basic …` → (user, password).
pub fn parse_basic(header: &[u8]) -> Option<(String, Vec<u8>)> {
    let s = std::str::from_utf8(header).ok()?;
    let (scheme, rest) = s.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let colon = raw.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(raw[..colon].to_vec()).ok()?;
    Some((user, raw[colon + 1..].to_vec()))
}

/// Decrements the waiting count when a queued check ends, however it ends.
struct Waiting<'a>(&'a AtomicUsize);
impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Authenticator {
    /// An authenticator counting its bcrypt runs in `runs`.
    pub fn new(runs: Arc<Series>) -> Authenticator {
        Authenticator {
            verified: Mutex::new(HashMap::new()),
            failed: Mutex::new(VecDeque::new()),
            seed: foldhash::fast::RandomState::default(),
            clients: Mutex::new(ClientTable::new(CLIENTS)),
            waiting: AtomicUsize::new(0),
            bcrypt_slot: Semaphore::new(1),
            runs,
        }
    }

    /// The user whose remembered credentials `authorization` carries, without a bcrypt.
    pub fn cached(
        &self,
        users: &BTreeMap<String, String>,
        authorization: Option<&[u8]>,
    ) -> Option<String> {
        let (user, password) = authorization.and_then(parse_basic)?;
        let hash = users.get(&user)?;
        let v = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        let (h, p) = v.get(&user)?;
        (h == hash && bool::from(p.as_slice().ct_eq(&password))).then_some(user)
    }

    fn digest(&self, user: &str, hash: &str, password: &[u8]) -> u64 {
        self.seed.hash_one((user, hash, password))
    }

    /// Check `authorization` for `client` against `users` (not empty).
    pub async fn check(
        &self,
        client: ClientKey,
        users: &BTreeMap<String, String>,
        authorization: Option<&[u8]>,
    ) -> Verdict {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return Verdict::Wrong;
        };
        if let Some(u) = self.cached(users, authorization) {
            return Verdict::Ok(u);
        }
        let (hash, known) = match users.get(&user) {
            Some(h) => (h.clone(), true),
            // Checked against a configured hash anyway: same cost, same time.
            None => match users.values().next() {
                Some(h) => (h.clone(), false),
                None => return Verdict::Wrong,
            },
        };
        let digest = self.digest(&user, &hash, &password);
        if self
            .failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&digest)
        {
            return Verdict::Wrong;
        }
        // The client's budget, and one check at a time per client.
        {
            let now = Instant::now();
            let mut t = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            let b = t.entry(client, now, || Budget {
                bucket: Bucket::full(BUDGET_BURST, now),
                pending: false,
            });
            if b.pending || !b.bucket.take(BUDGET_INTERVAL, BUDGET_BURST, now) {
                return Verdict::Throttled;
            }
            b.pending = true;
        }
        let ok = self.run_bcrypt(password.clone(), hash.clone()).await;
        {
            let mut t = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(b) = t.get_mut(&client) {
                b.pending = false;
                // A success, or no check at all (the queue was full), costs no budget.
                if ok.is_none() || (ok == Some(true) && known) {
                    b.bucket.give_back(BUDGET_BURST);
                }
            }
        }
        match ok {
            None => Verdict::Throttled,
            Some(true) if known => {
                self.verified
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(user.clone(), (hash, password));
                Verdict::Ok(user)
            }
            Some(_) => {
                let mut f = self.failed.lock().unwrap_or_else(|e| e.into_inner());
                if f.len() >= FAILED_CACHE {
                    f.pop_front();
                }
                f.push_back(digest);
                Verdict::Wrong
            }
        }
    }

    /// One bcrypt on the blocking pool, after at most [`MAX_WAITING`] others; `None` when the
    /// queue is full.
    async fn run_bcrypt(&self, password: Vec<u8>, hash: String) -> Option<bool> {
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let waiting = Waiting(&self.waiting);
        let _slot = self.bcrypt_slot.acquire().await.ok()?;
        drop(waiting);
        self.runs.add(1.0);
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false);
        Some(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, pw: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
        )
        .into_bytes()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn auth() -> (Authenticator, Arc<Series>) {
        let m = super::super::http_metrics::HttpMetrics::default();
        (Authenticator::new(m.bcrypt.clone()), m.bcrypt)
    }

    const A: ClientKey = ClientKey::V4([192, 0, 2, 1]);
    const B: ClientKey = ClientKey::V4([192, 0, 2, 2]);

    #[test]
    fn parses_basic_only() {
        assert_eq!(
            parse_basic(&header("a", "b:c")),
            Some(("a".into(), b"b:c".to_vec()))
        );
        assert_eq!(parse_basic(b"Bearer xyz"), None);
        assert_eq!(parse_basic(b"Basic !!!"), None);
        assert_eq!(
            parse_basic(b"basic YTpi"),
            Some(("a".into(), b"b".to_vec()))
        );
    }

    #[test]
    fn checks_and_remembers_successes_and_failures() {
        let mut users = BTreeMap::new();
        users.insert("prom".to_string(), bcrypt::hash("s3cret", 4).unwrap());
        let (a, runs) = auth();
        let ok = Verdict::Ok("prom".into());
        rt().block_on(async {
            assert_eq!(a.check(A, &users, None).await, Verdict::Wrong);
            assert_eq!(
                a.check(A, &users, Some(&header("prom", "wrong"))).await,
                Verdict::Wrong
            );
            assert_eq!(
                a.check(A, &users, Some(&header("eve", "s3cret"))).await,
                Verdict::Wrong
            );
            assert_eq!(
                a.check(A, &users, Some(&header("prom", "s3cret"))).await,
                ok
            );
            assert_eq!(runs.scalar(), 3.0);
            // From the caches now: no bcrypt.
            assert_eq!(
                a.check(B, &users, Some(&header("prom", "s3cret"))).await,
                ok
            );
            assert_eq!(
                a.check(B, &users, Some(&header("prom", "wrong"))).await,
                Verdict::Wrong
            );
            assert_eq!(runs.scalar(), 3.0);
            assert_eq!(
                a.check(A, &users, Some(&header("prom", "s3cret2"))).await,
                Verdict::Wrong
            );
            // A new hash for the user: the old password no longer passes.
            users.insert("prom".to_string(), bcrypt::hash("other", 4).unwrap());
            assert!(a.cached(&users, Some(&header("prom", "s3cret"))).is_none());
            assert_eq!(
                a.check(A, &users, Some(&header("prom", "s3cret"))).await,
                Verdict::Wrong
            );
            assert_eq!(a.check(A, &users, Some(&header("prom", "other"))).await, ok);
        });
    }

    #[test]
    fn a_guessing_client_runs_out_of_budget_and_others_do_not() {
        let mut users = BTreeMap::new();
        users.insert("prom".to_string(), bcrypt::hash("s3cret", 4).unwrap());
        let (a, runs) = auth();
        rt().block_on(async {
            let mut throttled = 0;
            for i in 0..100 {
                match a
                    .check(A, &users, Some(&header("prom", &format!("guess{i}"))))
                    .await
                {
                    Verdict::Throttled => throttled += 1,
                    Verdict::Wrong => {}
                    v => panic!("{v:?}"),
                }
            }
            // The burst, plus what refilled while it ran (cost-4 hashes are fast).
            let ran = runs.scalar();
            assert!((10.0..=20.0).contains(&ran), "{ran} bcrypt runs");
            assert_eq!(throttled as f64, 100.0 - ran);
            // Another client still has its budget.
            assert_eq!(
                a.check(B, &users, Some(&header("prom", "s3cret"))).await,
                Verdict::Ok("prom".into())
            );
        });
    }

    #[test]
    fn concurrent_checks_of_one_client_are_throttled_not_queued() {
        let mut users = BTreeMap::new();
        users.insert("prom".to_string(), bcrypt::hash("s3cret", 4).unwrap());
        let (a, runs) = auth();
        rt().block_on(async {
            let hs: Vec<Vec<u8>> = (0..20).map(|i| header("prom", &format!("g{i}"))).collect();
            let all = futures_join(hs.iter().map(|h| a.check(A, &users, Some(h)))).await;
            let throttled = all.iter().filter(|v| **v == Verdict::Throttled).count();
            assert_eq!(throttled, 19, "{all:?}");
            assert_eq!(runs.scalar(), 1.0);
        });
    }

    /// Poll every future to completion on the current task.
    async fn futures_join<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
        let mut set = Vec::new();
        for f in fs {
            set.push(Box::pin(f));
        }
        let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut done = true;
            for (i, f) in set.iter_mut().enumerate() {
                if out[i].is_none() {
                    match f.as_mut().poll(cx) {
                        std::task::Poll::Ready(v) => out[i] = Some(v),
                        std::task::Poll::Pending => done = false,
                    }
                }
            }
            if done {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        out.into_iter().map(|o| o.expect("done")).collect()
    }
}
