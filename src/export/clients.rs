//! Who a client is, for the per-client limits of the listener (connections, request rate,
//! password checks), and a bounded table of per-client state.
//!
//! A client is its IPv4 address, or its IPv6 /64 (one host usually holds a whole /64, so
//! per-address state would let it take as many slots as it likes). Forwarded headers are not
//! read: any client can write them. Behind a reverse proxy every request comes from the proxy.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A client as the limits count it: an IPv4 address or an IPv6 /64 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An IPv4 address (also an IPv4-mapped IPv6 one).
    V4([u8; 4]),
    /// The first 64 bits of an IPv6 address.
    V6([u8; 8]),
}

impl ClientKey {
    /// The client an address belongs to.
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(v4) => ClientKey::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(v4.octets()),
                None => {
                    let o = v6.octets();
                    let mut p = [0u8; 8];
                    p.copy_from_slice(&o[..8]);
                    ClientKey::V6(p)
                }
            },
        }
    }
}

/// Per-client state that can be forgotten once it is back to what a new client would get.
pub trait Forgettable {
    /// True when dropping this entry changes nothing for its client.
    fn is_fresh(&self, now: Instant) -> bool;
}

/// Per-client state, at most `cap` entries: a flood from many addresses cannot grow memory.
/// When full, entries that are back to fresh are dropped first, then the least recently seen
/// half (in one sweep, so a flood of new addresses costs O(1) amortised per request).
/// Dropping an entry only ever gives its client a fresh start, never a worse one.
pub struct ClientTable<K, V> {
    cap: usize,
    map: HashMap<K, (V, Instant)>,
}

impl<K: Hash + Eq + Copy, V: Forgettable> ClientTable<K, V> {
    /// An empty table holding at most `cap` clients.
    pub fn new(cap: usize) -> Self {
        ClientTable {
            cap: cap.max(2),
            map: HashMap::new(),
        }
    }

    /// The entry of `key`, made by `new` when absent.
    pub fn entry(&mut self, key: K, now: Instant, new: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains_key(&key) && self.map.len() >= self.cap {
            self.make_room(now);
        }
        let e = self.map.entry(key).or_insert_with(|| (new(), now));
        e.1 = now;
        &mut e.0
    }

    /// The entry of `key`, if present.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.map.get_mut(key).map(|e| &mut e.0)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Forget every client.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    fn make_room(&mut self, now: Instant) {
        self.map.retain(|_, (v, _)| !v.is_fresh(now));
        if self.map.len() < self.cap * 3 / 4 {
            return;
        }
        let mut seen: Vec<Instant> = self.map.values().map(|(_, t)| *t).collect();
        let mid = seen.len() / 2;
        let (_, cut, _) = seen.select_nth_unstable(mid);
        let cut = *cut;
        self.map.retain(|_, (_, t)| *t > cut);
    }
}

/// A token bucket: `burst` at once, one more every `interval`.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn full(burst: u32, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(burst),
            last: now,
        }
    }

    fn refill(&mut self, interval: Duration, burst: u32, now: Instant) {
        let secs = interval.as_secs_f64();
        let add = if secs > 0.0 {
            now.saturating_duration_since(self.last).as_secs_f64() / secs
        } else {
            f64::INFINITY
        };
        self.tokens = (self.tokens + add).min(f64::from(burst));
        self.last = now;
    }

    /// Take a token if there is one.
    pub fn take(&mut self, interval: Duration, burst: u32, now: Instant) -> bool {
        self.refill(interval, burst, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Give a token back (capped at `burst`).
    pub fn give_back(&mut self, burst: u32) {
        self.tokens = (self.tokens + 1.0).min(f64::from(burst));
    }

    /// Whether it would be full by `now`.
    pub fn full_by(&self, interval: Duration, burst: u32, now: Instant) -> bool {
        let missing = f64::from(burst) - self.tokens;
        missing <= 0.0
            || now.saturating_duration_since(self.last).as_secs_f64()
                >= missing * interval.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_their_64_and_mapped_v4_is_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::of(a), ClientKey::of(b));
        assert_ne!(ClientKey::of(a), ClientKey::of(c));
        let m: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(ClientKey::of(m), ClientKey::of(v4));
        assert_ne!(
            ClientKey::of("127.0.0.1".parse().unwrap()),
            ClientKey::of("127.0.0.2".parse().unwrap())
        );
    }

    struct Busy(bool);
    impl Forgettable for Busy {
        fn is_fresh(&self, _: Instant) -> bool {
            !self.0
        }
    }

    #[test]
    fn the_table_stays_bounded_and_keeps_the_recently_seen() {
        let mut t = ClientTable::new(100);
        let t0 = Instant::now();
        // A flood of distinct addresses, each still throttled (not fresh).
        for i in 0..10_000u32 {
            let now = t0 + Duration::from_millis(u64::from(i));
            t.entry(i, now, || Busy(true));
            assert!(t.len() <= 100);
        }
        // The most recent ones are kept.
        assert!(t.get_mut(&9_999).is_some());
        // Fresh entries go first, so a throttled client survives a flood of fresh ones.
        let mut t = ClientTable::new(10);
        t.entry(u32::MAX, t0, || Busy(true));
        for i in 0..1_000u32 {
            t.entry(i, t0 + Duration::from_secs(1), || Busy(false));
        }
        assert!(t.get_mut(&u32::MAX).is_some());
    }

    #[test]
    fn bucket_refills_and_gives_back() {
        let t0 = Instant::now();
        let i = Duration::from_secs(1);
        let mut b = Bucket::full(2, t0);
        assert!(b.take(i, 2, t0) && b.take(i, 2, t0));
        assert!(!b.take(i, 2, t0));
        assert!(!b.full_by(i, 2, t0 + Duration::from_millis(1500)));
        assert!(b.take(i, 2, t0 + Duration::from_secs(1)));
        b.give_back(2);
        assert!(b.full_by(i, 2, t0 + Duration::from_secs(2)));
    }
}
