#!/bin/sh
# Copies the shipped rule files for vmalert: vmalert-rules.sh alert-rules/ /etc/vmalert/rules/
#
# Debian 12's vmalert (VictoriaMetrics 1.79) refuses `keep_firing_for` (Prometheus 2.42+; vmalert
# reads it from 1.92 on, VictoriaMetrics/VictoriaMetrics#4529), so the copies go without it:
# on 1.79 an alert resolves one evaluation after its condition ends, where Prometheus holds it
# 30 s more (a pause inside a burst may resolve and page again). Its templates have no `toTime`
# either: a page's `started` is written with humanizeTimestamp there, in UTC, where Prometheus
# writes it in the zone of its TZ. Everything else is used as is;
# tests/stack_fleet.rs runs `vmalert -dryRun` on every copy and pages through Alertmanager.
# With vmalert >= 1.92 copy the files unchanged.
set -eu
src=${1:?usage: vmalert-rules.sh RULES_DIR OUT_DIR}
out=${2:?usage: vmalert-rules.sh RULES_DIR OUT_DIR}
mkdir -p "$out"
for f in "$src"/*.rules.yml; do
    [ -e "$f" ] || { echo "no *.rules.yml in $src" >&2; exit 1; }
    grep -v '^[[:space:]]*keep_firing_for:' "$f" \
        | sed 's/(\. | first | value | toTime)\.Local\.Format "[^"]*"/. | first | value | humanizeTimestamp/g' \
        > "$out/$(basename "$f")"
done
