#!/usr/bin/env python3
"""Table for scripts/bench-vs-mtail: medians of its runs, ratios, and a check that logpulse and
mtail exported the same counts.  bench-report.py DATA_DIR LINES WIDE_LINES"""
import re
import statistics
import sys
from collections import defaultdict

data, n, wide_n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

runs = defaultdict(list)
for line in open(f"{data}/runs.txt"):
    name, user, sys_, wall, rss = line.split()
    runs[name].append((float(user) + float(sys_), float(wall), int(rss)))


def med(name):
    rs = runs[name]
    return (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs),
            statistics.median(r[2] for r in rs), len(rs))


def fmt_row(name, lines):
    cpu, wall, rss, k = med(name)
    per = f"{lines / cpu:,.0f}" if cpu > 0 else "n/a (<1 ms)"
    print(f"| {name.replace('_', ' '):<22} | {cpu:7.3f} | {wall:6.3f} | {rss / 1024:7.1f} | {per:>14} | {k} |")


print(f"\n{n:,} lines of combined_rt, same file and rules (benches/equivalent.yml, "
      "benches/equivalent.mtail); medians\n")
print("| run                    | CPU s   | wall s | RSS MB  | lines / CPU-s  | runs |")
print("|------------------------|---------|--------|---------|----------------|------|")
for name in ["logpulse", "mtail", "grep_-c_''", "grep_-c_HTTP"]:
    if name in runs:
        fmt_row(name, n)
lp, mt = med("logpulse"), med("mtail")
print(f"\nlogpulse vs mtail: {mt[0] / lp[0]:.1f}x the lines per CPU-second, "
      f"{mt[1] / lp[1]:.1f}x less wall time, {mt[2] / lp[2]:.1f}x less peak RSS")
for g in ["grep_-c_''", "grep_-c_HTTP"]:
    if g in runs:
        print(f"logpulse wall / {g.replace('_', ' ')} wall: {lp[1] / med(g)[1]:.1f}x")


def samples(path):
    """name -> list of (labels dict, value)"""
    out = defaultdict(list)
    pat = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        m = pat.match(line.strip())
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        labels.pop("prog", None)  # mtail adds the program name
        out[m.group(1)].append((labels, float(m.group(3))))
    return out


def by(s, name, label):
    acc = defaultdict(float)
    for labels, v in s.get(name, []):
        acc[labels.get(label, "")] += v
    return dict(acc)


a, b = samples(f"{data}/logpulse.prom"), samples(f"{data}/mtail.prom")
checks = [
    ("http_requests_total", "status"),
    ("http_requests_total", "method"),
    ("http_response_bytes_total", "status"),
    ("http_request_duration_seconds_count", "method"),
    ("http_request_duration_seconds_sum", "method"),
]
ok = True
print("\nSame counts? (logpulse vs mtail)")
for name, label in checks:
    x, y = by(a, name, label), by(b, name, label)
    # logpulse declares nothing here, but skip zero-valued series on either side all the same
    x = {k: v for k, v in x.items() if v}
    y = {k: v for k, v in y.items() if v}
    same = x.keys() == y.keys() and all(abs(x[k] - y[k]) <= 1e-9 * max(1.0, abs(y[k])) for k in x)
    ok &= same
    print(f"  {name} by {label}: {'same' if same else 'DIFFERENT'} ({len(x)} values, "
          f"total {sum(x.values()):,.3f})")
    if not same:
        for k in sorted(set(x) | set(y)):
            print(f"    {k}: logpulse {x.get(k)} mtail {y.get(k)}")
# mtail rc50 leaves values equal to 0 out of every bucket (and so out of +Inf): say how many.
inf_a = by({"b": [s for s in a["http_request_duration_seconds_bucket"] if s[0].get("le") == "+Inf"]}, "b", "method")
inf_b = by({"b": [s for s in b["http_request_duration_seconds_bucket"] if s[0].get("le") == "+Inf"]}, "b", "method")
cnt = by(a, "http_request_duration_seconds_count", "method")
print(f"  +Inf bucket == _count: logpulse {all(inf_a.get(k) == v for k, v in cnt.items())}, "
      f"mtail {all(inf_b.get(k) == v for k, v in cnt.items())} "
      f"(mtail misses {sum(cnt.values()) - sum(inf_b.values()):.0f} observations in +Inf)")

if "logpulse_10k_series" in runs:
    wa = samples(f"{data}/wide-logpulse.prom")["http_requests_total"]
    wb = samples(f"{data}/wide-mtail.prom")["http_requests_total"]
    print(f"\n10,000-series run: {wide_n:,} lines over 10,000 paths (benches/wide.yml, benches/wide.mtail)\n")
    print("| run                    | CPU s   | wall s | RSS MB  | lines / CPU-s  | runs |")
    print("|------------------------|---------|--------|---------|----------------|------|")
    fmt_row("logpulse_10k_series", wide_n)
    fmt_row("mtail_10k_series", wide_n)
    same = sorted((l["route"], v) for l, v in wa) == sorted((l["route"], v) for l, v in wb)
    ok &= same
    print(f"\nseries: logpulse {len(wa):,}, mtail {len(wb):,}; same values: {same}")

sys.exit(0 if ok else 1)
