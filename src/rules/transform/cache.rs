//! A small direct-mapped cache of one label's transform outputs, for the transforms that cost
//! most per line (route, menu, referrer): a log asks about the same few URIs and referrers
//! again and again (`/mail/list`, `/static/app.css`, the portal's own pages), and a hit is one
//! hash and one copy instead of the walk. A miss overwrites its slot, reusing the slot's
//! buffers, so the steady state allocates nothing; an input that never repeats costs a hash
//! and a copy. Memory is bounded: [`SLOTS`] slots, inputs past [`MAX_INPUT`] bytes bypass it.
//!
//! Only for transforms whose output depends on the input alone, or (referrer sites, admitted
//! first come first served up to a limit) never changes for an input once given.

use std::hash::BuildHasher;

/// Slots (a power of two).
const SLOTS: usize = 128;
/// Longest input cached.
const MAX_INPUT: usize = 128;

#[derive(Debug, Default)]
struct Slot {
    used: bool,
    ok: bool,
    input: Vec<u8>,
    output: Vec<u8>,
}

/// Outputs of one transform, by input.
#[derive(Debug, Default)]
pub(super) struct OutputCache {
    /// Empty until the first lookup (labels of sources that see no lines cost nothing).
    slots: Vec<Slot>,
    /// Randomly seeded: inputs are untrusted, though a collision only costs a miss.
    hasher: foldhash::fast::RandomState,
}

impl OutputCache {
    /// Append the output for `input` to `out` (and return whether there is one), from the
    /// cache or from `compute` (which appends to `out` likewise).
    #[inline]
    pub(super) fn get(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        compute: impl FnOnce(&mut Vec<u8>) -> bool,
    ) -> bool {
        if input.len() > MAX_INPUT {
            return compute(out);
        }
        if self.slots.is_empty() {
            self.slots.resize_with(SLOTS, Slot::default);
        }
        let i = self.hasher.hash_one(input) as usize & (SLOTS - 1);
        let s = &mut self.slots[i];
        if s.used && s.input == input {
            out.extend_from_slice(&s.output);
            return s.ok;
        }
        let start = out.len();
        let ok = compute(out);
        s.used = true;
        s.ok = ok;
        s.input.clear();
        s.input.extend_from_slice(input);
        s.output.clear();
        s.output.extend_from_slice(&out[start..]);
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_give_what_the_computation_gave_and_long_inputs_bypass() {
        let mut c = OutputCache::default();
        let calls = std::cell::Cell::new(0);
        let run = |c: &mut OutputCache, input: &[u8]| {
            let mut out = Vec::new();
            let ok = c.get(input, &mut out, |o| {
                calls.set(calls.get() + 1);
                o.extend_from_slice(&input[..input.len() / 2]);
                input.len() % 2 == 0
            });
            (ok, out)
        };
        let long = vec![b'x'; MAX_INPUT + 1];
        for _ in 0..3 {
            assert_eq!(run(&mut c, b"abcd"), (true, b"ab".to_vec()));
            assert_eq!(run(&mut c, b"abc"), (false, b"a".to_vec()));
            assert_eq!(run(&mut c, &long).1.len(), MAX_INPUT / 2);
        }
        // Two computed once each (unless they share a slot), the long one every time.
        assert!((5..=7).contains(&calls.get()), "{}", calls.get());
        // Many distinct inputs: every answer is still right.
        for n in 0..1000u32 {
            let k = n.to_string().repeat(2);
            assert_eq!(run(&mut c, k.as_bytes()).1, &k.as_bytes()[..k.len() / 2]);
        }
    }
}
