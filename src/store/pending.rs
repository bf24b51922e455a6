//! Values scrapers have not seen: those of series still shown at 0 ([`super::hold`]).
//!
//! With `checkpoint: scrape`, a scrape saves the offsets of the lines its values hold. Lines
//! counted in a series that the scrape showed at 0 are behind those offsets too, so a restart
//! would not read them again: their values are saved in the same checkpoint write and added
//! back at start-up, before any line is read (the series is then shown at 0 again, then with
//! them). Label values are UTF-8 (the rules layer makes sure), so they are kept as strings.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::family::{Family, Lookup};
use super::series::Value;
use super::{key_hash, push_label, Kind, Store};

/// One saved value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Saved {
    /// A counter's value.
    Scalar(f64),
    /// A histogram's per-bucket counts (not cumulative, `+Inf` last), sum and count.
    Histogram {
        /// Per-bucket counts.
        buckets: Vec<u64>,
        /// Sum of observations.
        sum: f64,
        /// Number of observations.
        count: u64,
    },
}

/// Values of the series not revealed to scrapers, by family name: `[[label values], value]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pending(BTreeMap<String, Vec<(Vec<String>, Saved)>>);

/// What [`Pending::restore`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Values added back.
    pub series: usize,
    /// Values with no family of that name, type, labels and buckets any more (the config
    /// changed while the agent was stopped), by family name.
    pub dropped: BTreeMap<String, usize>,
    /// Values no counting can make (a negative or non-finite counter, a histogram whose
    /// buckets do not add up to its count): an altered file. Not restored.
    pub invalid: usize,
}

impl Saved {
    /// Whether counting lines can have made this value.
    fn possible(&self) -> bool {
        match self {
            Saved::Scalar(x) => x.is_finite() && *x >= 0.0,
            Saved::Histogram {
                buckets,
                sum,
                count,
            } => {
                sum.is_finite()
                    && buckets.iter().map(|&n| u128::from(n)).sum::<u128>() == u128::from(*count)
            }
        }
    }
}

impl Pending {
    /// The values of every counter and histogram series of `stores` that scrapers have not
    /// been shown (0 values left out). Call it with the sources paused, as for a render.
    pub fn collect(stores: &[&Store]) -> Pending {
        let mut out = BTreeMap::new();
        for f in stores.iter().flat_map(|s| s.families()) {
            if !f.desc().kind.zero_first() {
                continue;
            }
            let mut v: Vec<(Vec<String>, Saved)> = Vec::new();
            f.for_each(|s| {
                if s.revealed() {
                    return;
                }
                let saved = match s.value() {
                    Value::Scalar(x) => {
                        let x = x.get();
                        // JSON has no NaN or infinity (nothing a log line can make a counter).
                        if x == 0.0 || !x.is_finite() {
                            return;
                        }
                        Saved::Scalar(x)
                    }
                    Value::Histogram {
                        buckets,
                        sum,
                        count,
                    } => {
                        let (c, sum) = (count.load(Ordering::Relaxed), sum.get());
                        if c == 0 || !sum.is_finite() {
                            return;
                        }
                        Saved::Histogram {
                            buckets: buckets.iter().map(|b| b.get()).collect(),
                            sum,
                            count: c,
                        }
                    }
                };
                let labels = s
                    .label_values()
                    .map(|l| String::from_utf8_lossy(l).into_owned())
                    .collect();
                v.push((labels, saved));
            });
            if !v.is_empty() {
                out.entry(f.desc().name.clone())
                    .or_insert_with(Vec::new)
                    .extend(v);
            }
        }
        Pending(out)
    }

    /// No value to keep.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of series values held.
    pub fn len(&self) -> usize {
        self.0.values().map(Vec::len).sum()
    }

    /// Add the values saved as JSON text back into the families of the same name in `stores`
    /// (creating their series, which scrapers are then shown at 0 first, like any new
    /// series), one value at a time as they are read: memory stays what the restored series
    /// take, never a tree of the whole file (a 60 MB file of six million values took 2.3 GB
    /// that way).
    pub fn restore_json(json: &str, stores: &[&Store]) -> Result<Restored, serde_json::Error> {
        let mut into = Restorer::new(stores);
        let mut de = serde_json::Deserializer::from_str(json);
        FamiliesSeed(&mut into).deserialize(&mut de)?;
        de.end()?;
        Ok(into.r)
    }
}

/// Where restored values go, and what became of them.
struct Restorer<'a> {
    stores: &'a [&'a Store],
    key: Vec<u8>,
    r: Restored,
}

impl<'a> Restorer<'a> {
    fn new(stores: &'a [&'a Store]) -> Self {
        Restorer {
            stores,
            key: Vec::new(),
            r: Restored::default(),
        }
    }

    /// Add back one saved value of family `name` (`f`: that family, when there is one).
    fn one(&mut self, name: &str, f: Option<&Arc<Family>>, labels: &[String], v: &Saved) {
        if !v.possible() {
            self.r.invalid += 1;
            return;
        }
        let fits = f.is_some_and(|f| {
            let d = f.desc();
            d.labels.len() == labels.len()
                && match (d.kind, v) {
                    (Kind::Counter, Saved::Scalar(_)) => true,
                    (Kind::Histogram, Saved::Histogram { buckets, .. }) => {
                        buckets.len() == d.buckets.len() + 1
                    }
                    _ => false,
                }
        });
        let Some(f) = f.filter(|_| fits) else {
            match self.r.dropped.get_mut(name) {
                Some(n) => *n += 1,
                None => {
                    self.r.dropped.insert(name.to_string(), 1);
                }
            }
            return;
        };
        self.key.clear();
        for l in labels {
            push_label(&mut self.key, l.as_bytes());
        }
        let s = match f.lookup(&self.key, key_hash(&self.key)) {
            Lookup::Found(s) | Lookup::Overflow(s) => s,
        };
        s.add_saved(v);
        self.r.series += 1;
    }
}

/// The saved object, `{family: [values]}`, visited family by family.
struct FamiliesSeed<'i, 'a>(&'i mut Restorer<'a>);

impl<'de> DeserializeSeed<'de> for FamiliesSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FamiliesSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object of saved values by metric name")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            let f = self.0.stores.iter().find_map(|s| s.family(&name));
            map.next_value_seed(ValuesSeed {
                into: self.0,
                name: &name,
                family: f.as_ref(),
            })?;
        }
        Ok(())
    }
}

/// One family's `[[label values], value]` list, each restored as soon as it is read.
struct ValuesSeed<'i, 'a, 'n> {
    into: &'i mut Restorer<'a>,
    name: &'n str,
    family: Option<&'n Arc<Family>>,
}

impl<'de> DeserializeSeed<'de> for ValuesSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ValuesSeed<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of [[label values], value]")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some((labels, v)) = seq.next_element::<(Vec<String>, Saved)>()? {
            self.into.one(self.name, self.family, &labels, &v);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Desc, Label};
    use super::*;

    fn stores() -> Store {
        let store = Store::new();
        for (name, kind, buckets) in [
            ("c_total", Kind::Counter, vec![]),
            ("g", Kind::Gauge, vec![]),
            ("h_seconds", Kind::Histogram, vec![0.1, 1.0]),
        ] {
            store
                .register(
                    Desc {
                        name: name.into(),
                        help: "h".into(),
                        kind,
                        labels: vec![Label::unbounded("a"), Label::bounded("b")],
                        buckets,
                    },
                    100,
                )
                .unwrap();
        }
        store
    }

    fn key(a: &str, b: &str) -> Vec<u8> {
        let mut k = Vec::new();
        push_label(&mut k, a.as_bytes());
        push_label(&mut k, b.as_bytes());
        k
    }

    fn get(store: &Store, name: &str) -> std::sync::Arc<super::super::Family> {
        store
            .families()
            .into_iter()
            .find(|f| f.desc().name == name)
            .unwrap()
    }

    #[test]
    fn values_not_revealed_survive_a_restart_and_show_at_zero_first() {
        let a = stores();
        let (c, g, h) = (get(&a, "c_total"), get(&a, "g"), get(&a, "h_seconds"));
        let old = c.declare(&key("old", "x"));
        old.add(5.0);
        a.step_holds(1, 0);
        a.step_holds(2, 0);
        assert!(old.revealed());
        old.add(1.0); // Seen by Prometheus at its next scrape: not pending.
        c.declare(&key("new \"é\"", "x")).add(2.5);
        c.declare(&key("zero", "x"));
        g.declare(&key("gauge", "x")).set(7.0);
        let hs = h.declare(&key("h", "y"));
        for x in [0.05, 0.5, 3.0] {
            hs.observe(&h.desc().buckets, x);
        }
        a.step_holds(3, 1000); // Shown at 0, not yet revealed.
        let p = Pending::collect(&[&a]);
        assert_eq!(p.len(), 2, "{p:?}");
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"c_total":[[["new \"é\"","x"],2.5]],"h_seconds":[[["h","y"],{"buckets":[1,1,1],"sum":3.55,"count":3}]]}"#
        );

        let back: Pending = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        let b = stores();
        let r = Pending::restore_json(&json, &[&b]).unwrap();
        assert_eq!((r.series, r.dropped.len()), (2, 0));
        let mut out = String::new();
        crate::export::encode(crate::export::Format::Text, &[&b], &mut out);
        assert!(
            out.contains("c_total{a=\"new \\\"é\\\"\",b=\"x\"} 2.5\n"),
            "{out}"
        );
        assert!(
            out.contains("h_seconds_bucket{a=\"h\",b=\"y\",le=\"1\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("h_seconds_sum{a=\"h\",b=\"y\"} 3.55\n"),
            "{out}"
        );
        // Restored series are new: scrapers see them at 0 first.
        let nb = get(&b, "c_total");
        nb.for_each(|s| assert!(!s.revealed()));
    }

    #[test]
    fn values_of_families_gone_or_changed_are_counted_as_dropped() {
        let a = stores();
        get(&a, "c_total").declare(&key("p", "q")).add(1.0);
        let h = get(&a, "h_seconds");
        h.declare(&key("p", "q")).observe(&h.desc().buckets, 0.5);
        let p = Pending::collect(&[&a]);
        let b = Store::new();
        b.register(
            Desc {
                name: "h_seconds".into(),
                help: "h".into(),
                kind: Kind::Histogram,
                labels: vec![Label::unbounded("a"), Label::bounded("b")],
                buckets: vec![0.1, 1.0, 10.0],
            },
            100,
        )
        .unwrap();
        let r = Pending::restore_json(&serde_json::to_string(&p).unwrap(), &[&b]).unwrap();
        assert_eq!(r.series, 0);
        assert_eq!(
            r.dropped.into_iter().collect::<Vec<_>>(),
            [("c_total".to_string(), 1), ("h_seconds".to_string(), 1)]
        );
    }

    /// Regression: a checkpoint file's saved values were added as they were, so an altered
    /// file put a counter at -1e300 and a histogram with buckets unlike its count on /metrics.
    #[test]
    fn values_no_counting_can_make_are_not_restored() {
        let a = stores();
        let text = r#"{"c_total": [[["p", "q"], -1e300], [["p", "r"], 2.0]],
            "h_seconds": [[["p", "q"], {"buckets": [5, 5, 18446744073709551615], "sum": 1.0, "count": 1}]]}"#;
        let r = Pending::restore_json(text, &[&a]).unwrap();
        assert_eq!((r.series, r.invalid), (1, 2));
        let streamed = Pending::restore_json(text, &[&stores()]).unwrap();
        assert_eq!(streamed, r);
        let mut got = Vec::new();
        get(&a, "c_total").for_each(|s| got.push(s.scalar()));
        assert_eq!(got, [2.0]);
        assert_eq!(get(&a, "h_seconds").len(), 0);
    }

    #[test]
    fn saved_text_that_is_not_saved_values_is_an_error_and_what_came_before_stays() {
        let a = stores();
        for bad in [
            "[1, 2]",
            r#"{"c_total": [[["p", "q"], 1.0]], "h_seconds": 7}"#,
            r#"{"c_total": [[["p", "q"], 1.0]]} trailing"#,
            r#"{"c_total": [[["p"], "x"]]}"#,
        ] {
            assert!(Pending::restore_json(bad, &[&a]).is_err(), "{bad}");
        }
        // Values read before the error were added (each is a value the file held).
        let mut got = Vec::new();
        get(&a, "c_total").for_each(|s| got.push(s.scalar()));
        assert_eq!(got, [2.0], "the same series, twice");
    }
}
