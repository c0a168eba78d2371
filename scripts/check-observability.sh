#!/usr/bin/env bash
# The monitoring files under deploy/ against the real tools: `promtool check config`, `promtool check rules`,
# `promtool test rules` (alerts_test.yml), a check that every alert has a case that must fire and one that
# must not, and that the Grafana dashboard is valid JSON. promtool comes with Debian's `prometheus` package
# (.ci/run installs it); without it this skips with a reason, except under CI where it fails.
# The real-scrape test (tests/prometheus_scrape.rs, part of `cargo test`) uses the same package's server.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v promtool >/dev/null 2>&1; then
  if [ -n "${CI:-}" ]; then
    echo "promtool not found under CI: .ci/run must install Debian's prometheus package" >&2
    exit 1
  fi
  echo "SKIP: promtool not found (apt-get install prometheus); deploy/prometheus is not checked"
  exit 0
fi
promtool check config deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/alerts.yml
(cd deploy/prometheus && promtool test rules alerts_test.yml)
python3 - <<'PY'
import json, re, sys
alerts = re.findall(r"^\s*- alert: (\w+)", open("deploy/prometheus/alerts.yml").read(), re.M)
tests = open("deploy/prometheus/alerts_test.yml").read()
# Each `alert_rule_test` entry: alertname, then exp_alerts either `[]` or a list of expected alerts.
cases = re.findall(r"alertname: (\w+)\n\s+exp_alerts:( \[\])?", tests)
fires = {name for name, empty in cases if not empty}
quiet = {name for name, empty in cases if empty}
problems = [f"{a}: no case where it fires" for a in alerts if a not in fires]
problems += [f"{a}: no case where it must not fire" for a in alerts if a not in quiet]
problems += [f"{a}: tested but not in alerts.yml" for a in (fires | quiet) - set(alerts)]
json.load(open("deploy/grafana/llmserve.json"))
if problems:
    sys.exit("alert unit tests incomplete:\n  " + "\n  ".join(problems))
print(f"alerts: {len(alerts)} rules, each with a firing and a quiet unit test; dashboard JSON valid")
PY
