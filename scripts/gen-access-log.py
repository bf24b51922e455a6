#!/usr/bin/env python3
"""Deterministic nginx access logs for benchmarks (same seed, same bytes, any Python 3).

  gen-access-log.py -n 1000000 -o access.log                 # combined + $request_time
  gen-access-log.py -n 1000000 --format combined -o a.log    # plain combined
  gen-access-log.py -n 200000 --routes 10000 -o wide.log     # 10,000 distinct URI paths
  gen-access-log.py -n 6000000 --per-second 20 -o days.log   # 3.5 days of log time

Mix: ~80% GET, POST/PUT/DELETE/HEAD; mostly 2xx with 3xx/4xx/5xx; desktop, mobile web, mobile
app, bot and curl user agents; IPv4 and some IPv6; request times from a log-normal-ish spread
(0.000 .. ~20 s). Only `random.random()` is used, whose sequence is fixed for a given seed.
"""
import argparse
import math
import random
import sys
import time

METHODS = [("GET", 0.80), ("POST", 0.14), ("PUT", 0.03), ("DELETE", 0.02), ("HEAD", 0.01)]
STATUSES = [("200", 0.72), ("304", 0.08), ("201", 0.03), ("204", 0.02), ("301", 0.02),
            ("302", 0.03), ("400", 0.02), ("401", 0.02), ("403", 0.01), ("404", 0.035),
            ("499", 0.005), ("500", 0.007), ("502", 0.002), ("503", 0.001)]
AGENTS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", 0.40),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Safari/605.1.15", 0.12),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 0.15),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918N) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Mobile Safari/537.36", 0.10),
    ("OfficeSuiteApp/5.3.0 (Android 14; SM-S918N)", 0.10),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 0.05),
    ("curl/8.5.0", 0.04),
    ("-", 0.04),
]
REFERERS = [("-", 0.45), ("https://office.example.com/", 0.35),
            ("https://office.example.com/mail/list", 0.10), ("https://www.google.com/", 0.10)]
ROUTES = ["/", "/login", "/logout", "/mail/list", "/mail/read/{id}", "/mail/compose",
          "/api/v1/mail/messages/{id}", "/api/v1/board/items/{id}", "/api/v1/users/{id}",
          "/api/v1/calendar/events", "/api/v1/contacts/items/{id}", "/drive/files/{id}",
          "/static/app.{id}.js", "/static/app.css", "/favicon.ico", "/works/search?q={id}"]


def table(pairs):
    """Cumulative weights for pick()."""
    total = sum(w for _, w in pairs)
    acc, out = 0.0, []
    for v, w in pairs:
        acc += w / total
        out.append((acc, v))
    return out


def pick(r, tab):
    x = r.random()
    for acc, v in tab:
        if x < acc:
            return v
    return tab[-1][1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="lines (default 1,000,000)")
    ap.add_argument("--format", choices=["combined_rt", "combined"], default="combined_rt")
    ap.add_argument("--routes", type=int, default=0,
                    help="use this many distinct URI paths (/r/0 .. /r/N-1) instead of the mix")
    ap.add_argument("--seed", type=int, default=20251124)
    ap.add_argument("--per-second", type=int, default=100,
                    help="lines per second of log time (default 100); fewer spreads the log over days")
    ap.add_argument("-o", "--output", default="-")
    a = ap.parse_args()
    r = random.Random(a.seed)
    methods, statuses = table(METHODS), table(STATUSES)
    agents, referers = table(AGENTS), table(REFERERS)
    out = sys.stdout if a.output == "-" else open(a.output, "w", encoding="ascii", newline="\n")
    rt = a.format == "combined_rt"
    base = 1764000000  # 2025-11-24T16:00:00Z; one timestamp per `--per-second` lines
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    buf = []
    for i in range(a.n):
        if i % a.per_second == 0:
            t = time.gmtime(base + i // a.per_second)
            ts = "%02d/%s/%d:%02d:%02d:%02d +0000" % (
                t.tm_mday, months[t.tm_mon - 1], t.tm_year, t.tm_hour, t.tm_min, t.tm_sec)
        if r.random() < 0.08:
            ip = "2001:db8:%x::%x" % (int(r.random() * 65536), int(r.random() * 65536))
        else:
            ip = "%d.%d.%d.%d" % (1 + int(r.random() * 223), int(r.random() * 256),
                                  int(r.random() * 256), 1 + int(r.random() * 254))
        if a.routes:
            path = "/r/%d" % int(r.random() * a.routes)
        else:
            path = ROUTES[int(r.random() * len(ROUTES))].replace(
                "{id}", str(int(r.random() * 1_000_000)))
        method = pick(r, methods)
        status = pick(r, statuses)
        size = 0 if status in ("204", "304") or method == "HEAD" else int(
            math.exp(4 + r.random() * 8))
        line = '%s - - [%s] "%s %s HTTP/1.1" %s %d "%s" "%s"' % (
            ip, ts, method, path, status, size, pick(r, referers), pick(r, agents))
        if rt:
            # Mostly tens of milliseconds, a long tail to seconds; some 0.000 (cache hits).
            x = r.random()
            secs = 0.0 if x < 0.01 else math.exp(-5.5 + 4.5 * r.random() * r.random() * 1.9)
            line += " %.3f" % secs
        buf.append(line)
        if len(buf) >= 10000:
            out.write("\n".join(buf) + "\n")
            buf = []
    if buf:
        out.write("\n".join(buf) + "\n")
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
