//! HTTP basic authentication against the web config's bcrypt hashes.
//!
//! bcrypt is slow on purpose (~70 ms at cost 10), so a verified password is remembered per user
//! and hash and later compared in constant time; a changed hash or password verifies again. At
//! most one bcrypt runs at a time, on the blocking pool, so wrong passwords cannot take more than
//! one core nor stall the connection loop. An unknown user is checked against a configured hash
//! anyway, so the answer takes as long as for a known one (no user enumeration by timing).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use base64::Engine as _;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// Remembers verified credentials; one per server.
pub struct Authenticator {
    /// user → (hash it was verified against, password).
    verified: Mutex<HashMap<String, (String, Vec<u8>)>>,
    bcrypt_gate: Semaphore,
}

impl Default for Authenticator {
    fn default() -> Self {
        Authenticator {
            verified: Mutex::new(HashMap::new()),
            bcrypt_gate: Semaphore::new(1),
        }
    }
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

impl Authenticator {
    /// Whether `authorization` (the header's bytes) names a user of `users` with the right
    /// password. `users` must not be empty.
    pub async fn check(
        &self,
        users: &BTreeMap<String, String>,
        authorization: Option<&[u8]>,
    ) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let (hash, known) = match users.get(&user) {
            Some(h) => (h.clone(), true),
            None => match users.values().next() {
                Some(h) => (h.clone(), false),
                None => return false,
            },
        };
        if known {
            let v = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((h, p)) = v.get(&user) {
                if *h == hash && bool::from(p.as_slice().ct_eq(&password)) {
                    return true;
                }
            }
        }
        let Ok(_permit) = self.bcrypt_gate.acquire().await else {
            return false;
        };
        let (h, pw) = (hash.clone(), password.clone());
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(&pw, &h).unwrap_or(false))
            .await
            .unwrap_or(false);
        if ok && known {
            self.verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(user, (hash, password));
        }
        ok && known
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
    fn checks_and_remembers() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut users = BTreeMap::new();
        users.insert("prom".to_string(), bcrypt::hash("s3cret", 4).unwrap());
        let a = Authenticator::default();
        rt.block_on(async {
            assert!(!a.check(&users, None).await);
            assert!(!a.check(&users, Some(&header("prom", "wrong"))).await);
            assert!(!a.check(&users, Some(&header("eve", "s3cret"))).await);
            assert!(a.check(&users, Some(&header("prom", "s3cret"))).await);
            // From the cache now, and a wrong password still fails.
            assert!(a.check(&users, Some(&header("prom", "s3cret"))).await);
            assert!(!a.check(&users, Some(&header("prom", "s3cret2"))).await);
            // A new hash for the user: the old password no longer passes.
            users.insert("prom".to_string(), bcrypt::hash("other", 4).unwrap());
            assert!(!a.check(&users, Some(&header("prom", "s3cret"))).await);
            assert!(a.check(&users, Some(&header("prom", "other"))).await);
        });
    }
}
