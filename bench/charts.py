#!/usr/bin/env python3
"""Draws the cost curves of a bench/run.sh run as PNG charts, one per curve scenario.

Usage: charts.py results.jsonl [--out DIR] [--venv DIR]

For each of curve-subs, curve-payload and curve-topics found in results.jsonl it writes
DIR/<scenario>.png (server CPU per delivery and p99 latency against the point, one line per
server), and DIR/publish.png for the publish-only scenario (events/s and CPU per event against
the concurrent publishers). DIR defaults to `charts` next to results.jsonl.

It needs matplotlib: when the running Python lacks it, it creates a virtual environment (--venv,
by default bench-venv in CARGO_TARGET_DIR or target/), installs matplotlib there from PyPI
with pip, and runs itself again with that environment's Python.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MATPLOTLIB = "matplotlib==3.9.4"

# scenario in results.jsonl: (chart title, x axis label)
CHARTS = {
    "curve-subs": ("How cost grows with subscribers (one topic, SSE)", "subscribers"),
    "curve-payload": ("How cost grows with payload size (SSE)", "payload size (bytes)"),
    "curve-topics": ("How cost grows with topics (one subscriber each, SSE)", "topics"),
    "publish": ("Publishing with no subscribers", "concurrent publishers"),
}
STYLE = {  # one colour and marker per server, the same in every chart
    "herald": ("#1f77b4", "o"),
    "herald-disk": ("#2ca02c", "s"),
    "nchan": ("#d62728", "^"),
    "axum": ("#ff7f0e", "D"),
    "pushpin": ("#9467bd", "v"),
}


def ensure_matplotlib(venv):
    """Returns when matplotlib can be imported; otherwise installs it into `venv` and re-runs."""
    try:
        import matplotlib  # noqa: F401
        return
    except ImportError:
        pass
    python = os.path.join(venv, "bin", "python")
    if os.path.abspath(sys.executable) == os.path.abspath(python):
        sys.exit(f"charts.py: matplotlib is still missing in {venv}; remove that directory and run again")
    if not os.path.exists(python):
        print(f"charts.py: installing {MATPLOTLIB} into {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", MATPLOTLIB],
                   check=True)
    os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])


def series(lines, scenario, figure):
    """{peer: [(point, value)]} of the measured runs of `scenario`, sorted by point."""
    out = {}
    for record in lines:
        if record.get("scenario") != scenario or "point" not in record:
            continue
        if "skipped" in record or "error" in record:
            continue
        value = figure(record)
        # The axes are logarithmic; a zero (a CPU time under the kernel's 10 ms tick) has no place.
        if value is not None and value > 0:
            out.setdefault(record["peer"], []).append((record["point"], value))
    return {peer: sorted(points) for peer, points in out.items()}


def p99_ms(record):
    lat = record.get("latency")
    return None if not lat else lat["p99_us"] / 1000


PANELS = {
    "curve": [
        ("server CPU per delivery (µs)", lambda r: r.get("target_cpu_us_per_delivery")),
        ("latency p99 (ms)", p99_ms),
    ],
    "publish": [
        ("events/s", lambda r: r.get("publishes_per_second")),
        ("server CPU per event (µs)", lambda r: r.get("target_cpu_us_per_publish")),
    ],
}


def draw(lines, scenario, path):
    """Writes the chart of `scenario` to `path`; False when the results have no such runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    sys.path.insert(0, HERE)
    from results_md import PEER_NAMES

    title, xlabel = CHARTS[scenario]
    panels = PANELS["publish" if scenario == "publish" else "curve"]
    data = [series(lines, scenario, figure) for _, figure in panels]
    if not any(data):
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(9, 3.6), dpi=90)
    for ax, (ylabel, _), by_peer in zip(axes, panels, data):
        for peer in PEER_NAMES:
            if peer not in by_peer:
                continue
            colour, marker = STYLE[peer]
            xs, ys = zip(*by_peer[peer])
            ax.plot(xs, ys, color=colour, marker=marker, markersize=4, linewidth=1.5, label=PEER_NAMES[peer])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        points = sorted({x for pts in by_peer.values() for x, _ in pts})
        ax.set_xticks(points)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:,g}"))
        ax.grid(True, which="major", linewidth=0.4, alpha=0.6)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, pil_kwargs={"optimize": True})
    plt.close(fig)
    return True


def main():
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(os.path.dirname(HERE), "target")
    parser = argparse.ArgumentParser(description="Draws bench/run.sh's cost curves as PNG charts.")
    parser.add_argument("results", help="results.jsonl written by bench/run.sh")
    parser.add_argument("--out", help="directory for the PNGs (default: charts/ next to results.jsonl)")
    parser.add_argument("--venv", default=os.path.join(target, "bench-venv"),
                        help="virtual environment to install matplotlib into when it is missing")
    args = parser.parse_args()
    if not os.path.exists(args.results):
        sys.exit(f"charts.py: {args.results} does not exist; run bench/run.sh first")
    ensure_matplotlib(args.venv)
    lines = [json.loads(line) for line in open(args.results) if line.strip()]
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.results)), "charts")
    os.makedirs(out, exist_ok=True)
    for scenario in CHARTS:
        path = os.path.join(out, scenario + ".png")
        if draw(lines, scenario, path):
            print(f"wrote {path} ({os.path.getsize(path) // 1024} KiB)", file=sys.stderr)


if __name__ == "__main__":
    main()
