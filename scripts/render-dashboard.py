#!/usr/bin/env python3
"""Renders deploy/grafana/llmserve.json from a running Prometheus into one PNG, panel by panel, with the
dashboard's own layout (gridPos), queries, legends and units: a stand-in for a Grafana screenshot on
machines without Grafana (it is not in Debian's or npm's packages). Each panel's queries go through
Prometheus' query_range API, so what is drawn is exactly what those PromQL expressions return.

Usage: scripts/render-dashboard.py PROMETHEUS_URL OUT.png [--minutes 10] [--rate-interval 30s]
           [--model REGEX] [--tenant REGEX] [--instance REGEX] [--dashboard PATH]
Needs matplotlib (pip install matplotlib); no other packages.
"""
import argparse
import json
import re
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

UNIT_SCALE = {"s": (1, "s"), "percentunit": (100, "%"), "bytes": (2**-30, "GiB"), "reqps": (1, "req/s"),
              "short": (1, ""), "celsius": (1, "°C"), "watt": (1, "W")}


def query_range(base, expr, start, end, step):
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{base}/api/v1/query_range?{params}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def legend(fmt, labels):
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt) or json.dumps(labels)


def bind(expr, args):
    return (expr.replace("$__rate_interval", args.rate_interval).replace("$model", args.model)
            .replace("$instance", args.instance).replace("$tenant", args.tenant))


def right_axis_unit(panel, name):
    """The unit of a series that a field override puts on the right axis (None: left axis)."""
    for o in panel.get("fieldConfig", {}).get("overrides", []):
        m = o.get("matcher", {})
        hit = (m.get("id") == "byName" and m.get("options") == name) or \
              (m.get("id") == "byRegexp" and re.fullmatch(m.get("options", ""), name))
        props = {p["id"]: p["value"] for p in o.get("properties", [])}
        if hit and props.get("custom.axisPlacement") == "right":
            return props.get("unit", "short")
    return None


def flatten(panels):
    for p in panels:
        yield p
        yield from flatten(p.get("panels", []))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("prometheus")
    ap.add_argument("out")
    ap.add_argument("--dashboard", default="deploy/grafana/llmserve.json")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate-interval", default="30s")
    ap.add_argument("--model", default=".*")
    ap.add_argument("--tenant", default=".*")
    ap.add_argument("--instance", default=".*")
    args = ap.parse_args()
    dash = json.load(open(args.dashboard))
    end = time.time()
    start = end - args.minutes * 60
    step = max(1, int(args.minutes * 60 / 300))
    panels = list(flatten(dash["panels"]))
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    scale = 0.42  # inches per grid unit of height
    fig = plt.figure(figsize=(24, rows * scale + 1.5))
    fig.suptitle(f"{dash['title']} (rendered from Prometheus {args.prometheus}, last {args.minutes:g} min, "
                 f"rate interval {args.rate_interval}, model={args.model} tenant={args.tenant})", fontsize=12)
    empty = []
    for p in panels:
        g = p["gridPos"]
        top = 1 - (g["y"] / rows) * 0.95 - 0.04  # leave the top for the figure's title
        if p["type"] == "row":
            fig.text(0.005, top - 0.2 / rows, p["title"], fontsize=12, weight="bold")
            continue
        ax = fig.add_axes([g["x"] / 24 + 0.03, top - g["h"] / rows * 0.95 + 0.045 * 8 / rows, g["w"] / 24 - 0.045,
                           g["h"] / rows * 0.95 - 0.075 * 8 / rows])
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
        factor, suffix = UNIT_SCALE.get(unit, (1, unit))
        ax.set_title(p["title"], fontsize=10, loc="left")
        drawn = 0
        last_values = []
        right = None  # (axes, unit suffix) of the right axis, made on first use
        for t in p.get("targets", []):
            for series in query_range(args.prometheus, bind(t["expr"], args), start, end, step):
                name = legend(t.get("legendFormat", ""), series["metric"])
                target_ax, f = ax, factor
                right_unit = right_axis_unit(p, name)
                if right_unit is not None:
                    if right is None:
                        right = (ax.twinx(), UNIT_SCALE.get(right_unit, (1, right_unit)))
                        right[0].set_ylabel(right[1][1], fontsize=8)
                        right[0].tick_params(labelsize=7)
                    target_ax, f = right[0], right[1][0]
                xs = [datetime.fromtimestamp(float(v[0])) for v in series["values"]]
                ys = [float(v[1]) * f for v in series["values"]]
                color = f"C{drawn % 10}"
                target_ax.plot(xs, ys, linewidth=1.2, label=name + (" (right)" if target_ax is not ax else ""), color=color)
                last_values.append(ys[-1] if ys else float("nan"))
                drawn += 1
        if p["type"] == "stat":
            ax.clear()
            ax.axis("off")
            ax.set_title(p["title"], fontsize=10, loc="left")
            text = f"{last_values[0]:.3g} {suffix}" if last_values else "No data"
            ax.text(0.5, 0.35, text, ha="center", va="center", fontsize=20, transform=ax.transAxes)
        elif drawn:
            ax.set_ylabel(suffix, fontsize=8)
            ax.tick_params(labelsize=7)
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            handles, labels = ax.get_legend_handles_labels()
            if right is not None:
                right[0].set_ylim(bottom=0)
                h2, l2 = right[0].get_legend_handles_labels()
                handles, labels = handles + h2, labels + l2
            ax.legend(handles, labels, fontsize=7, loc="upper left", ncol=2 if drawn > 4 else 1)
        else:
            ax.text(0.5, 0.5, "No data", ha="center", va="center", transform=ax.transAxes, color="grey")
            ax.set_xticks([])
            ax.set_yticks([])
        if not drawn:
            empty.append(p["title"])
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}; panels without data: {empty or 'none'}")


if __name__ == "__main__":
    sys.exit(main())
