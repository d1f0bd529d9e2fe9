#!/usr/bin/env python3
"""Writes bench/RESULTS.md (to standard output) from the JSON lines bench/run.sh collected.

Usage: results_md.py results.jsonl --cpu MODEL --cores N --kernel K --os OS --versions TEXT
                     --load-before L --load-after L --sizes TEXT [--findings FILE]
"""
import argparse
import json
import os

PEER_NAMES = {
    "herald": "Herald (memory store)",
    "herald-disk": "Herald (disk store)",
    "nchan": "nchan (nginx, 2 workers)",
    "pushpin": "Pushpin",
}
SCENARIOS = [
    ("burst", "(a) one topic, burst"),
    ("rate", "(b) one topic, paced"),
    ("idle", "(c) idle connections"),
    ("topics", "(d) many topics, burst"),
]
TRANSPORTS = [("sse", "Server-Sent Events"), ("ws", "WebSocket"), ("long-poll", "long-polling")]


def num(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def latency(record, key):
    lat = record.get("latency")
    return "–" if not lat else num(lat[key] / 1000, 1)


def memory(record):
    per = record.get("target_rss_per_connection_bytes")
    return "–" if per is None else num(per / 1024, 1)


def connections(record):
    text = f"{record['connected']:,} / {record['failed_connections']:,} / {record['dropped_connections']:,}"
    return text + (f" ({record['connect_retries']:,} retries)" if record.get("connect_retries") else "")


def loss(record):
    text = f"{record['lost']:,} / {record['duplicated']:,} / {record['reordered']:,}"
    return text + (" (stopped at the drain deadline)" if record.get("cut_short") else "")


ROWS_PUBLISHING = [
    ("deliveries/s", lambda r: num(r["deliveries_per_second"])),
    ("server CPU per delivery (µs)", lambda r: num(r.get("target_cpu_us_per_delivery"), 2)),
    ("latency p50 (ms)", lambda r: latency(r, "p50_us")),
    ("latency p99 (ms)", lambda r: latency(r, "p99_us")),
    ("latency max (ms)", lambda r: latency(r, "max_us")),
    ("lost / duplicated / reordered", loss),
    ("deliveries received / expected", lambda r: f"{r['deliveries']:,} / {r['expected_deliveries']:,}"),
    ("memory per connection, idle before publishing (KiB)", memory),
    ("subscribers ready / failed / dropped", connections),
    ("publish time (s)", lambda r: num(r["publish_seconds"], 2)),
    ("load generator CPU per delivery (µs)", lambda r: num(r.get("bench_cpu_us_per_delivery"), 2)),
]
ROWS_IDLE = [
    ("memory per idle connection (KiB)", memory),
    ("resident memory before → connected (MiB)", lambda r: "–" if r.get("target_rss_before_bytes") is None else
        f"{r['target_rss_before_bytes'] / 2**20:.1f} → {r['target_rss_connected_bytes'] / 2**20:.1f}"),
    ("subscribers ready / failed / dropped", connections),
    ("time to connect all (s)", lambda r: num(r["connect_seconds"], 1)),
]


def table(records, rows):
    peers = [p for p in PEER_NAMES if p in records]
    out = ["| | " + " | ".join(PEER_NAMES[p] for p in peers) + " |", "|---|" + "---|" * len(peers)]
    for label, cell in rows:
        cells = []
        for p in peers:
            record = records[p]
            cells.append(record["error"] if "error" in record else cell(record))
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def describe(record):
    pace = record["pace"]
    how = {"burst": "burst", "idle": "idle", "rate": f"{pace.get('per_second', 0):g} msg/s"}[pace["kind"]]
    text = f"{record['subscribers']:,} subscribers on {record['topics']:,} topic(s), "
    if pace["kind"] == "idle":
        return text + "no publishing"
    return text + f"{record['messages']:,} messages of {record['payload_size']} B, {how}, {record['publishers']} publishers"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    for flag in ("cpu", "cores", "kernel", "os", "versions", "load_before", "load_after", "sizes"):
        parser.add_argument("--" + flag.replace("_", "-"), default="")
    parser.add_argument(
        "--findings",
        default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "FINDINGS.md"),
        help="hand-written analysis appended to the tables",
    )
    args = parser.parse_args()
    results = {}
    for line in open(args.results):
        if line.strip():
            record = json.loads(line)
            results.setdefault((record["scenario"], record.get("transport", "")), {})[record["peer"]] = record

    print("# Peer comparison: Herald, nchan, Pushpin\n")
    print("Written by `bench/run.sh`; every figure of every run is in `bench/results.jsonl`.\n")
    print("Servers and load generator share the machine's cores, so every figure includes that")
    print("contention; the load averages below show whether anything else was running.\n")
    print("## Machine and versions\n")
    print(f"- CPU: {args.cpu}, {args.cores} cores; {args.os}, kernel {args.kernel}")
    print(f"- load average (1, 5, 15 min) before the run: {args.load_before}; after: {args.load_after}")
    for line in args.versions.splitlines():
        print(f"- {line}")
    print("\n## Commands\n")
    print("```sh\nbench/run.sh                 # this run\nBENCH_QUICK=1 bench/run.sh   # a tenth of the size\n```\n")
    print(f"Sizes: {args.sizes}.\n")
    print("Each server is started fresh before each scenario, on loopback: Herald with")
    print("`herald serve --no-demo-clock --store memory` (and `--store disk`, the durable default),")
    print("connection limits raised above the scenario sizes;")
    print("nginx with the nchan module and 2 workers (`bench/nchan/nginx.conf`); Pushpin with its")
    print("default services (condure, zurl, proxy, handler) behind a Python GRIP origin")
    print("(`bench/pushpin/`), its delivery rate cap raised out of the way. Each scenario is one")
    print("`herald bench` run per server: subscribers from 8 loopback source addresses, 100-byte")
    print("payloads carrying a sequence number and the send time. Long-polling runs against Herald only.\n")
    print("How to read the tables: *server CPU per delivery* is the user+system CPU time of all the")
    print("server's processes from the first publish to the last delivery, divided by the deliveries")
    print("(the kernel counts it in 10 ms ticks); *latency* is publish start to receipt, measured by one")
    print("clock in the load generator; *memory per connection* is the growth of the server's resident")
    print("memory (all processes) from before connecting to all subscribers connected and idle, divided")
    print("by the subscribers; *dropped* are subscribers whose connection the server closed during the")
    print("run; *retries* are failed attempts (refused connection, 5xx answer) before a subscriber")
    print("got its stream. The load generator's own CPU is shown because it shares the 2 cores.\n")
    for transport, transport_name in TRANSPORTS:
        for scenario, scenario_name in SCENARIOS:
            records = results.get((scenario, transport))
            if not records:
                continue
            first = next(iter(records.values()))
            print(f"## {scenario_name}, {transport_name}\n")
            if "subscribers" in first:
                print(describe(first) + ".\n")
            print(table(records, ROWS_IDLE if scenario == "idle" else ROWS_PUBLISHING) + "\n")
    if args.findings and os.path.exists(args.findings):
        print(open(args.findings).read().rstrip() + "\n")


if __name__ == "__main__":
    main()
