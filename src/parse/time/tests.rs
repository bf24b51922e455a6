use super::*;

fn p(layout: &str, zone: Zone) -> TimeParser {
    TimeParser::new(layout.parse().unwrap(), zone)
}

const UTC: Zone = Zone::Fixed(0);
/// 2026-11-27T01:00:00Z, which is 10:00 at +09:00.
const T: i64 = 1_795_741_200_000;

#[test]
fn civil_round_trip() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    for z in [-800_000, -1, 0, 1, 59, 60, 11_016, 20_000, 2_932_896] {
        let (y, m, d) = civil_from_days(z);
        assert_eq!(days_from_civil(y, m, d), z, "{z}");
    }
    assert_eq!(format_utc(T), "2026-11-27T01:00:00Z");
}

#[test]
fn access_time_local() {
    let a = p("access", UTC);
    assert_eq!(a.parse(b"27/Nov/2026:10:00:00 +0900"), Some(T));
    assert_eq!(a.parse(b"[27/Nov/2026:10:00:00 +0900]"), Some(T));
    assert_eq!(a.parse(b"27/Nov/2026:01:00:00 +0000"), Some(T));
    assert_eq!(a.parse(b"26/Nov/2026:20:30:00 -0430"), Some(T));
    for bad in [
        &b""[..],
        b"-",
        b"27/Nov/2026:10:00:00",
        b"27/Nox/2026:10:00:00 +0900",
        b"32/Nov/2026:10:00:00 +0900",
        b"27/Nov/2026:24:00:00 +0900",
        b"27/Nov/2026:10:00:00 +0900 trailing",
        b"29/Feb/2026:10:00:00 +0000",
    ] {
        assert_eq!(a.parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
    assert!(a.parse(b"29/Feb/2028:10:00:00 +0000").is_some());
}

#[test]
fn iso8601_variants() {
    let i = p("iso8601", Zone::Fixed(9 * 3600));
    for ok in [
        &b"2026-11-27T10:00:00+09:00"[..],
        b"2026-11-27T01:00:00Z",
        b"2026-11-27t01:00:00z",
        b"2026-11-27 10:00:00",
        b"2026-11-27T10:00:00",
        b"2026/11/27 10:00:00",
        b"2026-11-27 10:00:00 +0900",
        b"2026-11-27T01:00:00 UTC",
        b"2026-11-27T10:00+09:00",
        b"2026-11-27T10:00:00+09",
    ] {
        assert_eq!(i.parse(ok), Some(T), "{}", String::from_utf8_lossy(ok));
    }
    assert_eq!(i.parse(b"2026-11-27T10:00:00.123+09:00"), Some(T + 123));
    assert_eq!(i.parse(b"2026-11-27 10:00:00,5"), Some(T + 500));
    assert_eq!(
        i.parse(b"2026-11-27T10:00:00.123456789Z"),
        Some(T + 9 * 3_600_000 + 123)
    );
    for bad in [
        &b"2026-11-27"[..],
        b"2026-13-01T00:00:00Z",
        b"2026-11-27T10:00:00+9",
        b"2026-11-27T10:00:00 junk",
        b"2026-11/27T10:00:00Z",
    ] {
        assert_eq!(i.parse(bad), None, "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn syslog_year_is_inferred_from_the_reference() {
    let mut s = p("syslog", UTC);
    // Reference: 2027-01-05, a January read of a set that began in December.
    s.set_reference(days_from_civil(2027, 1, 5) * 86_400);
    let dec = s.parse(b"Dec 31 23:59:59").unwrap();
    assert_eq!(format_utc(dec), "2026-12-31T23:59:59Z");
    let jan = s.parse(b"Jan  2 00:00:01").unwrap();
    assert_eq!(format_utc(jan), "2027-01-02T00:00:01Z");
    // A day of slack past the reference (clock skew) stays in the reference's year.
    let slack = s.parse(b"Jan  5 20:00:00").unwrap();
    assert_eq!(format_utc(slack), "2027-01-05T20:00:00Z");
    assert_eq!(s.parse(b"Nov 27 01:00:00.250"), Some(T + 250));
    // Feb 29 in a reference year without one: the last leap year.
    s.set_reference(days_from_civil(2027, 3, 1) * 86_400);
    assert_eq!(
        format_utc(s.parse(b"Feb 29 12:00:00").unwrap()),
        "2024-02-29T12:00:00Z"
    );
    assert_eq!(s.parse(b"Nov 27 1:00:00"), Some(T));
    assert_eq!(s.parse(b"Nov 27"), None);
}

#[test]
fn ctime_and_epoch() {
    let c = p("ctime", UTC);
    assert_eq!(c.parse(b"Fri Nov 27 01:00:00.123456 2026"), Some(T + 123));
    assert_eq!(c.parse(b"[Fri Nov 27 01:00:00 2026]"), Some(T));
    let e = p("epoch", UTC);
    assert_eq!(e.parse(b"1795741200"), Some(T));
    assert_eq!(e.parse(b"1795741200.5"), Some(T + 500));
    assert_eq!(e.parse(b"1795741200123"), Some(T + 123));
    assert_eq!(e.parse(b"1795741200123456"), Some(T + 123));
    assert_eq!(e.parse(b"1795741200123456789"), Some(T + 123));
    assert_eq!(p("epoch_ms", UTC).parse(b"1795741200"), Some(1_795_741_200));
    assert_eq!(p("epoch_s", UTC).parse(b"17"), Some(17_000));
    for bad in [&b"-1"[..], b"1e9", b"12a", b"", b"99999999999999999999"] {
        assert_eq!(e.parse(bad), None, "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn auto_tells_the_layouts_apart() {
    let mut a = p("auto", UTC);
    a.set_reference(T / 1000);
    for ok in [
        &b"27/Nov/2026:10:00:00 +0900"[..],
        b"2026-11-27T10:00:00+09:00",
        b"2026/11/27 01:00:00",
        b"2026-11-27 01:00:00,000",
        b"Nov 27 01:00:00",
        b"Fri Nov 27 01:00:00 2026",
        b"1795741200",
        b"1795741200000",
        b"1795741200.000",
    ] {
        assert_eq!(a.parse(ok), Some(T), "{}", String::from_utf8_lossy(ok));
    }
    for bad in [&b"-"[..], b"", b"hello", b"::1", b"\x00\xff"] {
        assert_eq!(a.parse(bad), None, "{:?}", bad);
    }
}

#[test]
fn patterns() {
    let f = p("%Y-%m-%d %H:%M:%S", UTC);
    assert_eq!(f.parse(b"2026-11-27 01:00:00.042"), Some(T + 42));
    let g = p("%d.%m.%y %T %z", UTC);
    assert_eq!(g.parse(b"27.11.26 10:00:00 +09:00"), Some(T));
    assert_eq!(p("%s", UTC).parse(b"1795741200"), Some(T));
    assert_eq!(p("%F %T", UTC).parse(b"2026-11-27 01:00:00"), Some(T));
    assert_eq!(
        p("%d %B %Y %H:%M:%S", UTC).parse(b"27 November 2026 01:00:00"),
        Some(T)
    );
    for bad in ["%Q", "%M:%S", "%Y %H:%M", "x%", "bogus"] {
        assert!(bad.parse::<Layout>().is_err(), "{bad}");
    }
}

#[test]
fn zones() {
    assert_eq!("UTC".parse::<Zone>(), Ok(Zone::Fixed(0)));
    assert_eq!("+09:00".parse::<Zone>(), Ok(Zone::Fixed(32_400)));
    assert_eq!("-0430".parse::<Zone>(), Ok(Zone::Fixed(-16_200)));
    assert_eq!("local".parse::<Zone>(), Ok(Zone::Local));
    assert!("Asia/Seoul".parse::<Zone>().is_err());
    assert!("+25:00".parse::<Zone>().is_err());
    // The local zone agrees with the C library's for a time with an explicit offset.
    let l = p("iso8601", Zone::Local);
    let naive = l.parse(b"2026-07-01 12:00:00").unwrap() / 1000;
    let utc = days_from_civil(2026, 7, 1) * 86_400 + 12 * 3600;
    assert_eq!(utc - naive, i64::from(system_offset(naive)));
}

#[test]
fn java_layouts_in_auto() {
    let mut a = p("auto", UTC);
    a.set_reference(T / 1000 + 600);
    for ok in [
        &b"26/11/27 01:00:00"[..],
        b"27-Nov-2026 01:00:00.000",
        b"27 Nov 2026 01:00:00,000",
        b"27/Nov/2026:01:00:00.000",
        b"[27/Nov/2026:01:00:00.000]",
        b"01:00:00.000",
        b"01:00:00",
    ] {
        assert_eq!(a.parse(ok), Some(T), "{}", String::from_utf8_lossy(ok));
    }
    assert_eq!(a.parse(b"27-Nov-2026 01:00:00.042"), Some(T + 42));
    for bad in [
        &b"26/13/27 01:00:00"[..],
        b"27-Nox-2026 01:00:00",
        b"25:00:00",
        b"01:00",
    ] {
        assert_eq!(a.parse(bad), None, "{}", String::from_utf8_lossy(bad));
    }
}

/// A time of day takes the date that puts it at most an hour after the reference: the
/// reference's day, or the day before when that would be later (midnight rollover).
#[test]
fn time_of_day_takes_the_reference_date() {
    let day = 86_400_000;
    let mut a = p("%H:%M:%S", Zone::Fixed(9 * 3600));
    // Reference 10:10 at +09:00: 10:00 is today, 10:50 too (within the hour), 23:59 yesterday.
    a.set_reference(T / 1000 + 600);
    assert_eq!(a.parse(b"10:00:00"), Some(T));
    assert_eq!(a.parse(b"10:50:00"), Some(T + 50 * 60_000));
    assert_eq!(
        a.parse(b"23:59:59"),
        Some(T + 13 * 3_600_000 + 3_599_000 - day)
    );
    // Read just after midnight: 23:59:58 was yesterday, 00:00:01 today.
    let midnight = T + 14 * 3_600_000; // 00:00 +09:00 the next day
    a.set_reference(midnight / 1000 + 5);
    assert_eq!(a.parse(b"23:59:58"), Some(midnight - 2_000));
    assert_eq!(a.parse(b"00:00:01"), Some(midnight + 1_000));
    // An explicit zone in the layout wins over the source's.
    let z = p("%H:%M:%S %z", Zone::Fixed(0));
    let mut z = z;
    z.set_reference(T / 1000 + 600);
    assert_eq!(z.parse(b"10:00:00 +09:00"), Some(T));
}
