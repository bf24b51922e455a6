//! `transform: device`: user agent → `mobile_app | mobile_web | desktop | bot | other`.

use memchr::memmem;

/// Every class [`DeviceClassifier::classify`] returns.
pub const DEVICE_CLASSES: &[&str] = &["mobile_app", "mobile_web", "desktop", "bot", "other"];

/// User agent → device class, with substring finders built once.
pub struct DeviceClassifier {
    bots: Vec<memmem::Finder<'static>>,
    app: Vec<memmem::Finder<'static>>,
    mobile: Vec<memmem::Finder<'static>>,
    desktop: Vec<memmem::Finder<'static>>,
}

impl std::fmt::Debug for DeviceClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceClassifier")
    }
}

fn finders(words: &[&'static str]) -> Vec<memmem::Finder<'static>> {
    words
        .iter()
        .map(|w| memmem::Finder::new(w.as_bytes()))
        .collect()
}

impl Default for DeviceClassifier {
    fn default() -> Self {
        DeviceClassifier {
            bots: finders(&[
                "bot",
                "Bot",
                "crawl",
                "Crawl",
                "spider",
                "Spider",
                "slurp",
                "curl/",
                "Wget",
                "python-requests",
                "python-urllib",
                "Go-http-client",
                "HeadlessChrome",
                "facebookexternalhit",
                "Prometheus",
                "kube-probe",
                "ELB-HealthChecker",
                "Pingdom",
                "UptimeRobot",
                "scan",
                "Scan",
                "zgrab",
                "masscan",
                "Nmap",
            ]),
            // Native apps: HTTP stacks of iOS/Android apps, and app names followed by an OS token.
            app: finders(&[
                "CFNetwork",
                "Dalvik",
                "okhttp",
                "(iOS ",
                "(Android ",
                "; iOS ",
                "; Android ",
            ]),
            mobile: finders(&[
                "Mobile",
                "Android",
                "iPhone",
                "iPad",
                "iPod",
                "Windows Phone",
                "Opera Mini",
            ]),
            desktop: finders(&["Windows NT", "Macintosh", "X11", "Linux", "CrOS"]),
        }
    }
}

/// Device classes of recently seen user agents. A log has few distinct agents, and classifying
/// one costs up to ~40 substring searches over it; the memo answers from one hash lookup.
/// Bounded: emptied when full, so agents that never repeat cost one insert each and no memory.
#[derive(Debug, Default)]
pub struct DeviceMemo {
    /// Randomly seeded: user agents are untrusted input.
    seen: std::collections::HashMap<Box<[u8]>, &'static [u8], foldhash::fast::RandomState>,
}

/// Most agents [`DeviceMemo`] keeps, and the longest agent it keeps.
const MEMO_ENTRIES: usize = 1024;
const MEMO_MAX_LEN: usize = 512;

impl DeviceMemo {
    /// `classifier.classify(ua)`, remembered.
    #[inline]
    pub fn classify(&mut self, classifier: &DeviceClassifier, ua: &[u8]) -> &'static [u8] {
        if let Some(class) = self.seen.get(ua) {
            return class;
        }
        let class = classifier.classify(ua);
        if ua.len() <= MEMO_MAX_LEN {
            if self.seen.len() >= MEMO_ENTRIES {
                self.seen.clear();
            }
            self.seen.insert(ua.into(), class);
        }
        class
    }
}

impl DeviceClassifier {
    /// `mobile_app | mobile_web | desktop | bot | other`.
    pub fn classify(&self, ua: &[u8]) -> &'static [u8] {
        let has = |fs: &[memmem::Finder<'static>]| fs.iter().any(|f| f.find(ua).is_some());
        if ua.is_empty() || ua == b"-" {
            return b"other";
        }
        if has(&self.bots) {
            return b"bot";
        }
        let browser = ua.starts_with(b"Mozilla/") || ua.starts_with(b"Opera");
        if !browser && has(&self.app) {
            return b"mobile_app";
        }
        if browser && has(&self.mobile) {
            return b"mobile_web";
        }
        if browser && has(&self.desktop) {
            return b"desktop";
        }
        b"other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_device_classes_are_the_classes() {
        let c = DeviceClassifier::default();
        let mut memo = DeviceMemo::default();
        let uas: Vec<Vec<u8>> = (0..3000)
            .map(|i| match i % 4 {
                0 => format!("Mozilla/5.0 (iPhone; CPU iPhone OS {i}) Mobile").into_bytes(),
                1 => b"curl/8.5.0".to_vec(),
                2 => format!("App/{i} (Android 14)").into_bytes(),
                _ => vec![b'x'; 600 + i % 7],
            })
            .collect();
        for _ in 0..2 {
            for ua in &uas {
                assert_eq!(memo.classify(&c, ua), c.classify(ua));
            }
        }
        assert!(memo.seen.len() <= MEMO_ENTRIES);
    }

    #[test]
    fn devices() {
        let d = DeviceClassifier::default();
        let c = |ua: &str| {
            std::str::from_utf8(d.classify(ua.as_bytes()))
                .unwrap()
                .to_string()
        };
        assert_eq!(c("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"), "desktop");
        assert_eq!(c("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15"), "desktop");
        assert_eq!(c("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"), "mobile_web");
        assert_eq!(c("Mozilla/5.0 (Linux; Android 14; SM-S928N) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"), "mobile_web");
        assert_eq!(c("GroupwareApp/4.2.1 (iOS 17.5; iPhone15,2)"), "mobile_app");
        assert_eq!(c("GroupwareApp/4.2.0 (Android 14; SM-S928N)"), "mobile_app");
        assert_eq!(
            c("MyApp/1.0 CFNetwork/1490.0.4 Darwin/23.2.0"),
            "mobile_app"
        );
        assert_eq!(c("okhttp/4.12.0"), "mobile_app");
        assert_eq!(
            c("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            "bot"
        );
        assert_eq!(c("curl/8.5.0"), "bot");
        assert_eq!(c("python-requests/2.32.3"), "bot");
        assert_eq!(c("-"), "other");
        assert_eq!(c("\u{fffd}\u{0}junk"), "other");
    }
}
