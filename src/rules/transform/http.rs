//! `transform: status`, `status_class` and `method`: HTTP values folded into small fixed sets,
//! so that junk in a log line can never create series.

/// `503` → `5xx`; anything that is not a status code → `other`.
pub fn status_class(s: &[u8], out: &mut Vec<u8>) {
    match s {
        [d @ b'1'..=b'5', b'0'..=b'9', b'0'..=b'9'] => {
            out.push(*d);
            out.extend_from_slice(b"xx");
        }
        _ => out.extend_from_slice(b"other"),
    }
}

/// A three-digit status 100–599 as is, else `other` (junk must not create series).
pub fn status(s: &[u8], out: &mut Vec<u8>) {
    match s {
        [b'1'..=b'5', b'0'..=b'9', b'0'..=b'9'] => out.extend_from_slice(s),
        _ => out.extend_from_slice(b"other"),
    }
}

const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"PUT",
    b"DELETE",
    b"HEAD",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"REPORT",
];

/// How many methods [`method`] keeps (others are `other`).
pub const METHOD_COUNT: usize = METHODS.len();

/// A known HTTP method as is, else `other`.
pub fn method(s: &[u8], out: &mut Vec<u8>) {
    if METHODS.contains(&s) {
        out.extend_from_slice(s);
    } else {
        out.extend_from_slice(b"other");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_method_are_bounded() {
        let f = |g: fn(&[u8], &mut Vec<u8>), s: &str| {
            let mut o = Vec::new();
            g(s.as_bytes(), &mut o);
            String::from_utf8(o).unwrap()
        };
        assert_eq!(f(status_class, "503"), "5xx");
        assert_eq!(f(status_class, "200"), "2xx");
        assert_eq!(f(status_class, "-"), "other");
        assert_eq!(f(status_class, "999"), "other");
        assert_eq!(f(status, "404"), "404");
        assert_eq!(f(status, "4041"), "other");
        assert_eq!(f(method, "GET"), "GET");
        assert_eq!(f(method, "batman"), "other");
    }
}
