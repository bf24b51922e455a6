#!/usr/bin/env python3
"""The measuring half of scripts/bench-fleet (which starts the agents, Prometheus and traffic).

bench-fleet.py N PROM_PORT PROM_PID SECS HISTORY SCRAPE TRAFFIC_PID "AGENT_PIDS" "AGENT_PORTS"
"""
import glob
import gzip
import json
import os
import re
import statistics
import sys
import time
import urllib.parse
import urllib.request

n, prom_port, prom_pid, secs, history, scrape, traffic_pid, agent_pids, agent_ports = sys.argv[1:]
n, secs, history = int(n), int(secs), int(history)
agent_pids = [int(p) for p in agent_pids.split()]
agent_ports = [int(p) for p in agent_ports.split()]
prom = "http://127.0.0.1:%s" % prom_port
hz = os.sysconf("SC_CLK_TCK")
scrape_s = float(scrape.rstrip("s"))
# Runs of each dashboard query (the median is reported); RUNS=1 for a quick pass on a big fleet.
runs = int(os.environ.get("RUNS", "3"))
# What Prometheus 2.42 sends (it prefers OpenMetrics).
ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
          "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def get(url, headers=None, timeout=120):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read(), r.headers


def query(q, **params):
    params["query"] = q
    body, _ = get(prom + "/api/v1/query?" + urllib.parse.urlencode(params))
    return json.loads(body)["data"]["result"]


def cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / hz


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def say(msg):
    print("[N=%d] %s" % (n, msg), flush=True)


# 1. Every agent read its history and was scraped.
t0 = time.time()
want = n * history
while True:
    try:
        up = query('sum(up{job="logpulse"})')
        lines = query('sum(logpulse_lines_total{job="logpulse"})')
        got_up = float(up[0]["value"][1]) if up else 0
        got = float(lines[0]["value"][1]) if lines else 0
        if got_up == n and got >= want:
            break
    except Exception as e:  # Prometheus still starting
        got_up, got = 0, 0
    if time.time() - t0 > 1800:
        sys.exit("bench-fleet: after 30 min, %d of %d agents up, %d of %d lines" % (got_up, n, got, want))
    time.sleep(5)
say("history read and scraped after %.0f s; warming up for two scrapes" % (time.time() - t0))
time.sleep(2 * scrape_s)

# 2. The window.
pids = {"prometheus": int(prom_pid), "traffic": int(traffic_pid)}
c0 = {k: cpu(p) for k, p in pids.items()}
a0 = sum(cpu(p) for p in agent_pids)
load0 = os.getloadavg()
w0 = time.time()
time.sleep(secs)
w1 = time.time()
load1 = os.getloadavg()
c1 = {k: cpu(p) for k, p in pids.items()}
a1 = sum(cpu(p) for p in agent_pids)
prom_rss = rss_mib(int(prom_pid))
agent_rss = statistics.median(rss_mib(p) for p in agent_pids)
window = "%ds" % int(w1 - w0)

# 3. What Prometheus saw.
samples = sorted(float(r["value"][1]) for r in query('scrape_samples_scraped{job="logpulse"}', time=w1))
status, _ = get(prom + "/api/v1/status/tsdb")
head_series = json.loads(status)["data"]["headStats"]["numSeries"]
durations = []
body, _ = get(prom + "/api/v1/query_range?" + urllib.parse.urlencode({
    "query": 'scrape_duration_seconds{job="logpulse"}', "start": w0, "end": w1, "step": scrape}))
for r in json.loads(body)["data"]["result"]:
    durations += [float(v[1]) for v in r["values"]]
durations.sort()
failed = query('sum(count_over_time(up{job="logpulse"}[%s]) - sum_over_time(up{job="logpulse"}[%s]))'
               % (window, window), time=w1)
failed = float(failed[0]["value"][1]) if failed else 0

# 4. Bytes per scrape, as Prometheus asks, plain and compressed.
plain, served_gz, local_gz = [], [], []
for port in agent_ports:
    url = "http://127.0.0.1:%d/metrics" % port
    b, h = get(url, {"Accept": ACCEPT})
    plain.append(len(b))
    local_gz.append(len(gzip.compress(b, 6)))
    b2, h2 = get(url, {"Accept": ACCEPT, "Accept-Encoding": "gzip"})
    served_gz.append(len(b2) if h2.get("Content-Encoding") == "gzip" else None)
med = statistics.median
served = [x for x in served_gz if x is not None]

# 5. Report (before the dashboards, which take long on a big fleet).
cpu_prom = c1["prometheus"] - c0["prometheus"]
cpu_agents = a1 - a0
print()
print("## N = %d agents, window %s (%d scrapes)" % (n, window, int((w1 - w0) / scrape_s)))
# The machine may be shared: the load says how much of the wall time was someone else's.
print("load average (1/5/15 min): %.2f %.2f %.2f at the window's start, %.2f %.2f %.2f at its end; %d CPUs"
      % (load0 + load1 + (os.cpu_count(),)))
print("series per agent (scrape_samples_scraped): min %d, median %d, max %d; all agents %d"
      % (samples[0], med(samples), samples[-1], sum(samples)))
print("Prometheus head series: %d" % head_series)
print("bytes per scrape (median): plain %d; gzip as served: %s; gzip -6 of the body: %d (%.1f%% of plain)"
      % (med(plain), ("%d" % med(served)) if served else "not compressed",
         med(local_gz), 100.0 * med(local_gz) / med(plain)))
print("scrape duration: median %.3f s, p90 %.3f s, max %.3f s; failed scrapes in the window: %d"
      % (med(durations), durations[int(0.9 * (len(durations) - 1))], durations[-1], failed))
print("Prometheus: RSS %.0f MiB (%.1f MiB per agent), CPU %.1f s in %s (%.3f CPU-s per agent per scrape)"
      % (prom_rss, prom_rss / n, cpu_prom, window, cpu_prom / n / ((w1 - w0) / scrape_s)))
print("agents: CPU %.1f s in all (%.2f s per agent), RSS median %.1f MiB; traffic generator CPU %.1f s"
      % (cpu_agents, cpu_agents / n, agent_rss, c1["traffic"] - c0["traffic"]), flush=True)

# 6. The dashboards' queries.
BUILTIN = {"__rate_interval": "1m", "__interval": "15s", "__range": "30m"}


def substitute(expr):
    for k, v in BUILTIN.items():
        expr = expr.replace("${%s}" % k, v).replace("$" + k, v)
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", ".+", expr)


dash = []
for path in sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "grafana-dashboards", "*.json"))):
    d = json.load(open(path))
    panels = []
    for p in d.get("panels", []):
        panels.append(p)
        panels += p.get("panels", [])
    times, slowest, errors = [], ("", 0.0), 0
    for p in panels:
        for t in p.get("targets", []):
            expr = t.get("expr")
            if not expr:
                continue
            q = substitute(expr)
            if t.get("instant"):
                url = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": w1})
            else:
                url = prom + "/api/v1/query_range?" + urllib.parse.urlencode(
                    {"query": q, "start": w1 - 1800, "end": w1, "step": "15s"})
            took = []
            for _ in range(runs):
                s = time.perf_counter()
                try:
                    get(url)
                except Exception:
                    errors += 1
                    break
                took.append(time.perf_counter() - s)
            if took:
                m = med(took)
                times.append(m)
                if m > slowest[1]:
                    slowest = (p.get("title", "?"), m)
    dash.append((os.path.basename(path), len(times), sum(times), slowest, errors))

for name, count, total, slow, errors in dash:
    print("dashboard %s: %d queries, %.2f s in all (median of %d), slowest %.3f s (%s)%s"
          % (name, count, total, runs, slow[1], slow[0], ", %d errors" % errors if errors else ""))
print("| %d | %d | %d | %d | %d / %s | %.3f / %.3f | %.0f (%.1f) | %.1f (%.3f) | %s |" % (
    n, med(samples), sum(samples), head_series, med(plain),
    ("%d" % med(served)) if served else "%d*" % med(local_gz),
    med(durations), durations[-1], prom_rss, prom_rss / n, cpu_prom,
    cpu_prom / n / ((w1 - w0) / scrape_s),
    ", ".join("%s %.2f s" % (d[0].replace("logpulse-", "").replace(".json", ""), d[2]) for d in dash)))
