#!/bin/sh
# Copies the shipped rule files for vmalert: vmalert-rules.sh alert-rules/ /etc/vmalert/rules/
#
# Debian 12's vmalert (VictoriaMetrics 1.79) refuses `keep_firing_for` (Prometheus 2.42+; vmalert
# reads it from 1.92 on, VictoriaMetrics/VictoriaMetrics#4529), so the copies go without it:
# on 1.79 an alert resolves one evaluation after its condition ends, where Prometheus holds it
# 30 s more (a pause inside a burst may resolve and page again). Its templates have no `toTime`
# either: a page's `started` is written with humanizeTimestamp there, in UTC, where Prometheus
# writes it in the zone of its TZ. vmalert 1.79 does not chain the rules of a group within one
# evaluation (a recorded series is read back from VictoriaMetrics only after its write and
# -search.latencyOffset), so when a burst first fires its `since` is not there yet and the page
# would have no started/servers/tenants/menus/lines: the copies take "started now" (since = now,
# as Prometheus has it at that evaluation: 60 s back for a route, 120 s for a tenant) when the
# `since` query gives nothing. Everything else is used as is;
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
        | sed -e 's/`max(\([^`]*:since{[^`]*\)) - 60`/`(max(\1) or vector(time() - 60)) - 60`/g' \
              -e 's/`max(\([^`]*:since{[^`]*- 60\))`/`max(\1) or vector(time() - 60)`/g' \
              -e 's/`min(\([^`]*:since{[^`]*\)) - 60`/`(min(\1) or vector(time() - 120)) - 60`/g' \
              -e 's/`min(\([^`]*:since{[^`]*- 120\))`/`min(\1) or vector(time() - 120)`/g' \
        > "$out/$(basename "$f")"
done
