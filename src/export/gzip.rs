//! A rendered exposition, shared by every request that reuses it, and its gzip form made once
//! on demand: `/metrics` is compressed when the request's `Accept-Encoding` allows gzip (as
//! client_golang's promhttp does; Prometheus always asks), never otherwise.

use std::io::Write as _;
use std::sync::OnceLock;

use flate2::write::GzEncoder;
use flate2::Compression;

/// gzip level. Level 1 is what a scrape wants: on a groupware-sized exposition it takes a
/// fraction of the CPU of the default level 6 for a few percent more bytes (measured in
/// docs/stack.md, "Compression").
const LEVEL: u32 = 1;

/// One render of `/metrics`.
pub struct Exposition {
    text: String,
    gzip: OnceLock<Vec<u8>>,
}

impl Exposition {
    /// Wrap a rendered exposition.
    pub fn new(text: String) -> Exposition {
        Exposition {
            text,
            gzip: OnceLock::new(),
        }
    }

    /// The exposition text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text gzip-compressed; computed by the first caller, shared with later ones (a
    /// flood of gzip scrapes within the render's reuse costs one compression).
    pub fn gzip(&self) -> &[u8] {
        self.gzip.get_or_init(|| {
            let mut e = GzEncoder::new(
                Vec::with_capacity(self.text.len() / 8 + 64),
                Compression::new(LEVEL),
            );
            // Writing to a Vec cannot fail.
            let _ = e.write_all(self.text.as_bytes());
            e.finish().unwrap_or_default()
        })
    }
}

/// Whether `Accept-Encoding` (every field line's value, joined with `,`) allows a gzip answer:
/// `gzip` (or `x-gzip`, or else `*`) with a weight above 0, and `identity` not preferred.
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    let (mut gzip, mut star, mut identity) = (None::<f32>, None::<f32>, None::<f32>);
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut q = 1.0f32;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
        }
        let q = if q.is_finite() {
            q.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let slot = match coding.as_str() {
            "gzip" | "x-gzip" => &mut gzip,
            "*" => &mut star,
            "identity" => &mut identity,
            _ => continue,
        };
        *slot = Some(slot.map_or(q, |old: f32| old.max(q)));
    }
    let q = gzip.or(star).unwrap_or(0.0);
    q > 0.0 && identity.is_none_or(|i| q >= i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_like_a_server_should() {
        for yes in [
            "gzip",
            "gzip, deflate, br",
            "deflate, gzip;q=0.5",
            "GZIP",
            "x-gzip",
            "*",
            "identity;q=0.5, gzip",
            "gzip;q=1.0, identity; q=0.5, *;q=0",
            "br;q=1, *;q=0.1",
        ] {
            assert!(accepts_gzip(yes), "{yes}");
        }
        for no in [
            "",
            "identity",
            "deflate, br",
            "gzip;q=0",
            "gzip; q=0.000",
            "gzip;q=0, *",
            "*;q=0",
            "gzip;q=0.5, identity",
            "gzip;q=nope",
        ] {
            assert!(!accepts_gzip(no), "{no}");
        }
    }

    #[test]
    fn gzip_round_trips_and_is_made_once() {
        let text: String = (0..2000)
            .map(|i| format!("m{{tenant=\"t{}\"}} {i}\n", i % 37))
            .collect();
        let e = Exposition::new(text.clone());
        let z = e.gzip();
        assert!(z.len() * 3 < text.len(), "{} of {}", z.len(), text.len());
        assert!(std::ptr::eq(z, e.gzip()));
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(z), &mut out).unwrap();
        assert_eq!(out, text);
    }
}
