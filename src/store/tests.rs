use super::*;

fn fam_with(store: &Store, limit: usize, labels: Vec<Label>) -> Arc<Family> {
    let desc = Desc {
        name: "t_total".into(),
        help: "t".into(),
        kind: Kind::Counter,
        labels,
        buckets: vec![],
    };
    store.register(desc, limit).unwrap()
}

fn fam(store: &Store, limit: usize) -> Arc<Family> {
    fam_with(
        store,
        limit,
        vec![Label::unbounded("a"), Label::unbounded("b")],
    )
}

fn key(vals: &[&str]) -> Vec<u8> {
    let mut k = Vec::new();
    for v in vals {
        push_label(&mut k, v.as_bytes());
    }
    k
}

/// `(label values joined by '|', value)` of every series, in output order.
fn series(f: &Family) -> Vec<(String, f64)> {
    let mut v = Vec::new();
    f.for_each(|s| {
        let labels: Vec<String> = s
            .label_values()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        v.push((labels.join("|"), s.scalar()));
    });
    v
}

fn value(f: &Family, labels: &str) -> Option<f64> {
    series(f)
        .into_iter()
        .find(|(l, _)| l == labels)
        .map(|(_, v)| v)
}

#[test]
fn distinct_label_values_that_concatenate_alike_stay_distinct() {
    let store = Store::new();
    let f = fam(&store, 100);
    let mut c = SeriesCache::new(f.clone());
    c.get(&key(&["ab", "c"])).add(1.0);
    c.get(&key(&["a", "bc"])).add(2.0);
    assert_eq!(series(&f), [("ab|c".into(), 1.0), ("a|bc".into(), 2.0)]);
}

#[test]
fn overflow_of_unbounded_labels_goes_to_one_series_and_is_counted() {
    let store = Store::new();
    let f = fam(&store, 2);
    let mut c = SeriesCache::new(f.clone());
    for i in 0..5 {
        c.get(&key(&["x", &i.to_string()])).add(1.0);
    }
    c.get(&key(&["x", "0"])).add(1.0);
    assert_eq!(f.len(), 2);
    assert_eq!(f.dropped(), 3);
    assert_eq!(value(&f, "__overflow__|__overflow__"), Some(3.0));
    assert_eq!(value(&f, "x|0"), Some(2.0));
}

#[test]
fn bounded_labels_keep_their_values_when_the_family_is_full() {
    // The scanner flood of a 404 route per line, then real 500s on a known route: the status
    // must stay exact whatever fills the limit.
    let store = Store::new();
    let f = fam_with(
        &store,
        100,
        vec![
            Label::bounded("method"),
            Label::bounded("status"),
            Label::unbounded("route"),
        ],
    );
    let mut c = SeriesCache::new(f.clone());
    for i in 0..10_000 {
        c.get(&key(&["GET", "404", &format!("/{i:x}")])).add(1.0);
    }
    for _ in 0..100 {
        c.get(&key(&["POST", "500", "/api/orders"])).add(1.0);
    }
    assert_eq!(f.len(), 100);
    assert_eq!(value(&f, "POST|500|__overflow__"), Some(100.0));
    assert_eq!(value(&f, "GET|404|__overflow__"), Some(9_900.0));
    assert_eq!(value(&f, "__overflow__|__overflow__|__overflow__"), None);
    let total: f64 = series(&f).iter().map(|(_, v)| v).sum();
    assert_eq!(total, 10_100.0);
    assert_eq!(f.dropped(), 10_000);
}

#[test]
fn a_full_reserve_folds_every_label() {
    // A label declared bounded that is not: the reserve fills, then all labels fold, and the
    // family's size stays bounded.
    let store = Store::new();
    let f = fam_with(&store, 1, vec![Label::bounded("a"), Label::unbounded("b")]);
    let mut c = SeriesCache::new(f.clone());
    let n = f.reserve() + 1 + 50;
    for i in 0..n {
        c.get(&key(&[&i.to_string(), "x"])).add(1.0);
    }
    assert_eq!(f.len(), 1);
    assert_eq!(f.folded_len(), f.reserve() + 1);
    assert_eq!(value(&f, "__overflow__|__overflow__"), Some(50.0));
    let total: f64 = series(&f).iter().map(|(_, v)| v).sum();
    assert_eq!(total, n as f64);
}

#[test]
fn a_folded_key_that_exists_already_is_one_series() {
    // A log line can carry "__overflow__" itself: no duplicate series in the output.
    let store = Store::new();
    let f = fam_with(&store, 1, vec![Label::bounded("s"), Label::unbounded("r")]);
    let mut c = SeriesCache::new(f.clone());
    c.get(&key(&["500", "__overflow__"])).add(1.0);
    c.get(&key(&["500", "/x"])).add(1.0);
    assert_eq!(series(&f), [("500|__overflow__".into(), 2.0)]);
}

#[test]
fn a_family_of_bounded_labels_caches_its_reserve_series() {
    let store = Store::new();
    let f = fam_with(&store, 1, vec![Label::bounded("a"), Label::bounded("b")]);
    let mut c = SeriesCache::new(f.clone());
    c.get(&key(&["1", "1"])).add(1.0);
    for _ in 0..3 {
        c.get(&key(&["2", "2"])).add(1.0);
    }
    // Only the first lookup of the new key reached the family (then it was cached).
    assert_eq!(f.dropped(), 1);
    assert_eq!(value(&f, "2|2"), Some(3.0));
}

#[test]
fn a_label_is_bounded_only_if_every_registration_says_so() {
    let store = Store::new();
    fam_with(&store, 1, vec![Label::bounded("a"), Label::bounded("b")]);
    let f = fam_with(&store, 1, vec![Label::bounded("a"), Label::unbounded("b")]);
    let mut c = SeriesCache::new(f.clone());
    c.get(&key(&["1", "1"])).add(1.0);
    c.get(&key(&["2", "2"])).add(1.0);
    assert_eq!(value(&f, "2|__overflow__"), Some(1.0));
}

#[test]
fn idle_series_expire_and_caches_notice() {
    let store = Store::new();
    let f = fam(&store, 10);
    let mut c = SeriesCache::new(f.clone());
    c.get(&key(&["old", "1"])).add(1.0);
    f.declare(&key(&["pinned", "1"]));
    assert_eq!(store.expire(now_secs() + 10), 1);
    assert_eq!(f.len(), 1);
    // The cache must not hand out the expired handle.
    c.get(&key(&["old", "1"])).add(5.0);
    assert_eq!(value(&f, "old|1"), Some(5.0));
}

#[test]
fn expiry_frees_room_in_the_limit_and_the_reserve() {
    let store = Store::new();
    let f = fam(&store, 1);
    let mut c = SeriesCache::new(f.clone());
    c.get(&key(&["a", "1"])).add(1.0);
    c.get(&key(&["b", "2"])).add(1.0);
    assert_eq!((f.len(), f.folded_len()), (1, 1));
    // The all-__overflow__ series is pinned, like the declared ones.
    assert_eq!(store.expire(now_secs() + 10), 1);
    assert_eq!((f.len(), f.folded_len()), (0, 1));
    c.get(&key(&["b", "2"])).add(1.0);
    assert_eq!(value(&f, "b|2"), Some(1.0));
}

#[test]
fn conflicting_definitions_are_rejected() {
    let store = Store::new();
    fam(&store, 1);
    let other = Desc {
        name: "t_total".into(),
        help: "t".into(),
        kind: Kind::Gauge,
        labels: vec![],
        buckets: vec![],
    };
    assert!(store.register(other, 1).is_err());
    assert!(Arc::ptr_eq(&fam(&store, 1), &fam(&store, 1)));
}

#[test]
fn same_definition_compares_help_labels_and_limit() {
    let (a, b) = (Store::new(), Store::new());
    let f = fam(&a, 10);
    assert!(f.same_definition(&f));
    assert!(f.same_definition(&fam(&b, 10)));
    assert!(!f.same_definition(&fam(&Store::new(), 11)), "limit");
    let bounded = fam_with(
        &Store::new(),
        10,
        vec![Label::bounded("a"), Label::unbounded("b")],
    );
    assert!(!f.same_definition(&bounded), "a label that keeps its value");
    let mut d = f.desc().clone();
    d.help = "other".into();
    assert!(
        !f.same_definition(&Store::new().register(d, 10).unwrap()),
        "help"
    );
}

#[test]
fn remove_where_removes_declared_and_counted_series_and_invalidates_handles() {
    let store = Store::new();
    let f = fam(&store, 10);
    let gen = f.generation();
    let web = f.declare(&key(&["web", "x"]));
    let Lookup::Found(api) = f.lookup(&key(&["api", "x"]), key_hash(&key(&["api", "x"]))) else {
        panic!("found")
    };
    assert_eq!(f.remove_where(|k| key_values(k).next() == Some(b"api")), 1);
    assert!(!api.is_live() && web.is_live());
    assert_ne!(f.generation(), gen, "cached handles are dropped");
    assert_eq!(series(&f), [("web|x".to_string(), 0.0)]);
    assert_eq!(f.len(), 1);
    assert_eq!(f.remove_where(|_| false), 0);
}

#[test]
fn adopt_carries_a_family_with_its_values() {
    let (old, new) = (Store::new(), Store::new());
    let f = fam(&old, 10);
    f.declare(&key(&["a", "b"])).add(3.0);
    new.adopt(f.clone()).unwrap();
    assert!(new.adopt(fam(&Store::new(), 10)).is_err(), "name taken");
    let again = fam(&new, 10);
    assert!(
        Arc::ptr_eq(&f, &again),
        "registering the same definition finds it"
    );
    assert_eq!(series(&again), [("a|b".to_string(), 3.0)]);
}

/// Registering finds a family by name in constant time: 200,000 families take about a second
/// (debug build). Scanning the families registered before (as it once did) made this 2 × 10¹⁰
/// name comparisons, minutes: 40,000 metrics took `check` 4.35 s in a release build.
#[test]
fn registering_many_families_takes_linear_time() {
    let store = Store::new();
    let desc = |i: usize| Desc {
        name: format!("m{i}_total"),
        help: "h".into(),
        kind: Kind::Counter,
        labels: vec![Label::bounded("status")],
        buckets: vec![],
    };
    let start = std::time::Instant::now();
    let n = 200_000;
    for i in 0..n {
        store.register(desc(i), 10).unwrap();
    }
    let again = store.register(desc(n / 2), 10).unwrap();
    assert!(Arc::ptr_eq(
        &again,
        &store.family(&desc(n / 2).name).unwrap()
    ));
    assert_eq!(store.families().len(), n);
    let took = start.elapsed();
    assert!(
        took < std::time::Duration::from_secs(60),
        "{n} families took {took:?} to register: quadratic?"
    );
}
