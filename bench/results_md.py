#!/usr/bin/env python3
"""Writes bench/RESULTS.md (to standard output) from the JSON lines bench/run.sh collected.

Usage: results_md.py results.jsonl --cpu MODEL --cores N --kernel K --os OS --versions TEXT
                     --load-before L --load-after L --sizes TEXT [--quick 0|1]
                     [--charts DIR] [--findings FILE]

Charts are referenced as DIR/<scenario>.png (DIR relative to RESULTS.md, `charts` by default)
when that file exists next to results.jsonl, as bench/charts.py writes them.
"""
import argparse
import json
import os

PEER_NAMES = {
    "herald": "Herald (memory store)",
    "herald-disk": "Herald (disk store)",
    "nchan": "nchan (nginx, 2 workers)",
    "axum": "naive axum hub",
    "pushpin": "Pushpin",
    "faye": "Faye (Node.js, npm faye)",
}
SHORT_NAMES = {"herald": "Herald", "herald-disk": "Herald", "nchan": "nchan", "axum": "a naive axum hub",
               "pushpin": "Pushpin", "faye": "Faye"}
# Scenarios run once per transport.
SCENARIOS = [
    ("burst", "(a) one topic, burst"),
    ("burst-seq", "(a′) one topic, burst, one sequential publisher"),
    ("rate", "(b) one topic, paced"),
    ("rate-seq", "(b′) one topic, paced, one sequential publisher"),
    ("idle", "(c) idle connections"),
    ("topics", "(d) many topics, burst"),
]
TRANSPORTS = [("sse", "Server-Sent Events"), ("ws", "WebSocket"), ("long-poll", "long-polling")]
# The Bayeux scenario (Herald against Faye): a burst and idle connections per Bayeux transport.
BAYEUX = "bayeux"
BAYEUX_IDLE = "bayeux-idle"
BAYEUX_TRANSPORTS = [("bayeux-ws", "Bayeux over WebSocket"), ("bayeux-long-poll", "Bayeux over long-polling")]
# Scenarios with one run per point (SSE), shown as one table per figure and a chart.
PUBLISH = "publish"
CURVES = [
    ("curve-subs", "(f) how cost grows: subscribers", "subscribers", "{:,}"),
    ("curve-payload", "(g) how cost grows: payload size", "payload (B)", "{:,}"),
    ("curve-topics", "(h) how cost grows: topics, one subscriber each", "topics", "{:,}"),
]


def num(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def latency(record, key, field="latency", digits=1):
    lat = record.get(field)
    return "–" if not lat else num(lat[key] / 1000, digits)


def ack(record):
    if not record.get("publish_ack"):
        return "–"
    return f"{latency(record, 'p50_us', 'publish_ack', 2)} / {latency(record, 'p99_us', 'publish_ack', 2)}"


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
    ("publish acknowledged, p50 / p99 (ms)", ack),
    ("load generator CPU per delivery (µs)", lambda r: num(r.get("bench_cpu_us_per_delivery"), 2)),
]
def per_cpu_second(record):
    """Deliveries per second of the server's CPU time, or None without a CPU figure."""
    cpu = record.get("target_cpu_us_per_delivery")
    return 1e6 / cpu if cpu else None


ROWS_BAYEUX = ROWS_PUBLISHING[:2] + [
    ("deliveries per server CPU second", lambda r: num(per_cpu_second(r))),
] + ROWS_PUBLISHING[2:]
ROWS_IDLE = [
    ("memory per idle connection (KiB)", memory),
    ("resident memory before → connected (MiB)", lambda r: "–" if r.get("target_rss_before_bytes") is None else
        f"{r['target_rss_before_bytes'] / 2**20:.1f} → {r['target_rss_connected_bytes'] / 2**20:.1f}"),
    ("subscribers ready / failed / dropped", connections),
    ("time to connect all (s)", lambda r: num(r["connect_seconds"], 1)),
]


def cell(record, show):
    """What a table shows for one run: `show(record)`, or why there is no figure."""
    if record is None or "skipped" in record:
        return "–"
    if "error" in record:
        return record["error"]
    return show(record)


def peers_of(records):
    return [p for p in PEER_NAMES if p in records]


def table(records, rows):
    peers = peers_of(records)
    out = ["| | " + " | ".join(PEER_NAMES[p] for p in peers) + " |", "|---|" + "---|" * len(peers)]
    for label, show in rows:
        out.append(f"| {label} | " + " | ".join(cell(records[p], show) for p in peers) + " |")
    return "\n".join(out)


def lossy(show):
    """`show`, marked when the run lost, repeated or reordered messages or dropped subscribers."""
    def marked(record):
        text = show(record)
        faults = record["lost"] + record["duplicated"] + record["reordered"]
        if faults or record["failed_connections"] or record["dropped_connections"]:
            text += " ⚠"
        return text
    return marked


# The figures of a curve or of the publish-only scenario: (title, value of a record).
CURVE_FIGURES = [
    ("server CPU per delivery (µs)", lossy(lambda r: num(r.get("target_cpu_us_per_delivery"), 2))),
    ("latency p99 (ms)", lossy(lambda r: latency(r, "p99_us"))),
    ("deliveries/s", lossy(lambda r: num(r["deliveries_per_second"]))),
]
PUBLISH_FIGURES = [
    ("events/s", lambda r: num(r.get("publishes_per_second"))),
    ("server CPU per event (µs)", lambda r: num(r.get("target_cpu_us_per_publish"), 2)),
    ("publish acknowledged p99 (ms)", lambda r: latency(r, "p99_us", "publish_ack", 2)),
    ("failed publishes", lambda r: num(r.get("publish_failures"))),
]


def point_table(by_point, figure, point_label, point_format):
    """Rows: the points; columns: the peers; cells: one figure."""
    peers = sorted({p for records in by_point.values() for p in records}, key=list(PEER_NAMES).index)
    out = [f"| {point_label} | " + " | ".join(PEER_NAMES[p] for p in peers) + " |", "|---|" + "---|" * len(peers)]
    for point in sorted(by_point):
        records = by_point[point]
        out.append(f"| {point_format.format(point)} | " + " | ".join(cell(records.get(p), figure) for p in peers) + " |")
    return "\n".join(out)


def describe(record):
    pace = record["pace"]
    if record.get("subscribers") == 0:
        return f"no subscribers, {record['messages']:,} messages of {record['payload_size']} B"
    how = {"burst": "burst", "idle": "idle", "rate": f"{pace.get('per_second', 0):g} msg/s"}[pace["kind"]]
    text = f"{record['subscribers']:,} subscribers on {record['topics']:,} topic(s), "
    if pace["kind"] == "idle":
        return text + "no publishing"
    publishers = record["publishers"]
    return text + (f"{record['messages']:,} messages of {record['payload_size']} B, {how}, "
                   f"{publishers} publisher{'' if publishers == 1 else 's'}")


def measured(records):
    """The first record of `records` (a dict by peer) that is a measurement."""
    return next((r for r in records.values() if "subscribers" in r), None)


def bayeux_section(results):
    """Herald's Bayeux against Faye's server: per transport, the burst, the ratio of deliveries
    per server CPU second, and idle memory."""
    if not any((scenario, t) in results for scenario in (BAYEUX, BAYEUX_IDLE) for t, _ in BAYEUX_TRANSPORTS):
        return
    print("## (i) Bayeux: Herald vs Faye\n")
    print("Bayeux clients (handshake, subscribe, then one `/meta/connect` after another) on Herald's")
    print("`/cometd` (memory store) and on Faye's own Node.js server (`bench/faye/server.mjs`: npm `faye`")
    print("with its in-memory engine and Node's http server, connect timeout 30 s, one process), the")
    print("same channel and payloads; publishes go to Herald as form posts and to Faye as Bayeux")
    print("messages POSTed without a client id, from one sequential publisher.\n")
    for transport, transport_name in BAYEUX_TRANSPORTS:
        records = results.get((BAYEUX, transport))
        if records:
            first = measured(records)
            print(f"### burst, {transport_name}\n")
            if first:
                print(describe(first) + ".\n")
            print(table(records, ROWS_BAYEUX) + "\n")
            herald, faye = (records.get(p) for p in ("herald", "faye"))
            rates = [per_cpu_second(r) if r and "subscribers" in r else None for r in (herald, faye)]
            if all(rates):
                print(f"Deliveries per server CPU second: Herald {num(rates[0])}, Faye {num(rates[1])}: "
                      f"Herald {rates[0] / rates[1]:.1f}× Faye's.\n")
        idle = results.get((BAYEUX_IDLE, transport))
        if idle:
            first = measured(idle)
            print(f"### idle, {transport_name}\n")
            if first:
                print(describe(first) + ".\n")
            print(table(idle, ROWS_IDLE) + "\n")


def minutes(seconds):
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def durations(lines):
    """Seconds spent per scenario (start, run and stop of every server), in the order run."""
    spent = {}
    for record in lines:
        name = record["scenario"]
        spent[name] = spent.get(name, 0.0) + record.get("wall_seconds", 0.0)
    return spent


def load(path):
    lines = []
    for line in open(path):
        if line.strip():
            lines.append(json.loads(line))
    return lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    for flag in ("cpu", "cores", "kernel", "os", "versions", "load_before", "load_after", "sizes"):
        parser.add_argument("--" + flag.replace("_", "-"), default="")
    parser.add_argument("--quick", default="0", help="1: the run was BENCH_QUICK=1")
    parser.add_argument("--charts", default="charts", help="chart directory, relative to RESULTS.md")
    parser.add_argument(
        "--findings",
        default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "FINDINGS.md"),
        help="hand-written analysis appended to the tables",
    )
    args = parser.parse_args()
    lines = load(args.results)
    results, points = {}, {}
    for record in lines:
        scenario, peer = record["scenario"], record["peer"]
        if "point" in record:
            points.setdefault(scenario, {}).setdefault(record["point"], {})[peer] = record
        else:
            results.setdefault((scenario, record.get("transport", "")), {})[peer] = record
    chart_dir = os.path.join(os.path.dirname(os.path.abspath(args.results)), args.charts)

    def chart(name, caption):
        if os.path.exists(os.path.join(chart_dir, name + ".png")):
            print(f"![{caption}]({args.charts}/{name}.png)\n")

    peers = []
    for p in PEER_NAMES:
        if any(r["peer"] == p for r in lines) and SHORT_NAMES[p] not in peers:
            peers.append(SHORT_NAMES[p])
    print("# Peer comparison: " + ", ".join(peers) + "\n")
    print("Written by `bench/run.sh`; every figure of every run is in `bench/results.jsonl`.\n")
    if args.quick == "1":
        print("**A quick run (`BENCH_QUICK=1`, a tenth of the sizes): the figures prove the scripts,")
        print("they do not measure the servers.**\n")
    print("Servers and load generator share the machine's cores, so every figure includes that")
    print("contention; the load averages below show whether anything else was running.\n")
    print("## Machine and versions\n")
    print(f"- CPU: {args.cpu}, {args.cores} cores; {args.os}, kernel {args.kernel}")
    print(f"- load average (1, 5, 15 min) before the run: {args.load_before}; after: {args.load_after}")
    for line in args.versions.splitlines():
        print(f"- {line}")
    print("\n## Commands\n")
    print("```sh\nbench/run.sh                 # this run\nBENCH_QUICK=1 bench/run.sh   # a tenth of the size\n"
          "BENCH_SCENARIOS=\"burst-seq curve-subs\" bench/run.sh   # some scenarios only\n```\n")
    print(f"Sizes: {args.sizes}.\n")
    spent = durations(lines)
    if any("wall_seconds" in r for r in lines):
        total = sum(spent.values())
        print(f"The run took {minutes(total)} (servers' starts and stops included): " +
              ", ".join(f"{name} {minutes(seconds)}" for name, seconds in spent.items()) + ".\n")
    print("Each server is started fresh before each run, on loopback: Herald with")
    print("`herald serve --no-demo-clock --store memory` (and `--store disk`, the durable default),")
    print("connection limits raised above the scenario sizes;")
    print("nginx with the nchan module and 2 workers (`bench/nchan/nginx.conf`); the naive axum hub")
    print("(`bench/naive-hub/`: a `tokio::sync::broadcast` channel per topic and axum's `Sse`")
    print("response, no history, no WebSocket, what one writes in an afternoon), driven with Herald's")
    print("URLs and publish format; Pushpin, when it takes part, with its")
    print("default services (condure, zurl, proxy, handler) behind a Python GRIP origin")
    print("(`bench/pushpin/`), its delivery rate cap raised out of the way. Each run is one")
    print("`herald bench` run per server: subscribers from 8 loopback source addresses, 100-byte")
    print("payloads (unless a curve varies them) carrying a sequence number and the send time.")
    print("Long-polling runs against Herald only and WebSocket not against the naive hub: \"–\".\n")
    print("How to read the tables: *server CPU per delivery* is the user+system CPU time of all the")
    print("server's processes from the first publish to the last delivery, divided by the deliveries")
    print("(the kernel counts it in 10 ms ticks, so small runs read coarsely); *latency* is publish")
    print("start to receipt, measured by one clock in the load generator; *publish time* is from the")
    print("first publish to the last acknowledgement; *publish acknowledged* is, per publish, the")
    print("time from sending it to the end of its answer, as a publisher waiting for each answer sees")
    print("it (with one sequential publisher, a backend with one worker, publish time is the sum of")
    print("these); *memory per connection* is the growth of the server's resident")
    print("memory (all processes) from before connecting to all subscribers connected and idle, divided")
    print("by the subscribers; *dropped* are subscribers whose connection the server closed during the")
    print("run; *retries* are failed attempts (refused connection, 5xx answer) before a subscriber")
    print("got its stream; *events/s* (publishing with no subscribers) is the acknowledged publishes")
    print("over the publish time, and *CPU per event* the server's CPU time over them; in the curves,")
    print("⚠ marks a run that lost, repeated or reordered messages or dropped subscribers (its full")
    print("figures are in results.jsonl). The load generator's own CPU is shown because it shares the")
    print("cores.\n")
    for transport, transport_name in TRANSPORTS:
        for scenario, scenario_name in SCENARIOS:
            records = results.get((scenario, transport))
            if not records:
                continue
            first = measured(records)
            print(f"## {scenario_name}, {transport_name}\n")
            if first:
                print(describe(first) + ".\n")
            print(table(records, ROWS_IDLE if scenario == "idle" else ROWS_PUBLISHING) + "\n")
    if PUBLISH in points:
        by_point = points[PUBLISH]
        first = next((r for records in by_point.values() for r in records.values() if "messages" in r), None)
        print("## (e) publishing with no subscribers\n")
        if first:
            print(f"{first['messages']:,} messages of {first['payload_size']} B on one topic with no subscriber,")
            print("from N concurrent publishers, each waiting for every answer before sending the next.")
            print("The disk store makes every event durable before it answers; the others keep nothing")
            print("(nchan keeps a message buffer in shared memory).\n")
        chart(PUBLISH, "events/s by concurrent publishers")
        for title, figure in PUBLISH_FIGURES:
            print(f"**{title}**\n")
            print(point_table(by_point, figure, "publishers", "{:,}") + "\n")
    for scenario, name, point_label, point_format in CURVES:
        by_point = points.get(scenario)
        if not by_point:
            continue
        print(f"## {name}\n")
        first = next((r for records in by_point.values() for r in records.values() if "messages" in r), None)
        if first:
            if scenario == "curve-subs":
                print(f"One topic, {first['messages']:,} messages of {first['payload_size']} B per point, burst,")
            elif scenario == "curve-payload":
                print(f"{first['subscribers']:,} subscribers on one topic, {first['messages']:,} messages per point, burst,")
                print("one sequential publisher, Server-Sent Events. Not 5,000 subscribers: there the 64 KiB point")
                print("alone is 65 GB through loopback, which the load generator, parsing on the same cores at")
                print("about 0.5 GB/s, needs minutes per server for; 1,000 keeps it under half a minute.\n")
                chart(scenario, name)
                for title, figure in CURVE_FIGURES:
                    print(f"**{title}**\n")
                    print(point_table(by_point, figure, point_label, point_format) + "\n")
                continue
            else:
                print(f"{first['messages']:,} messages per point spread over the topics, one subscriber per topic, burst,")
            print("one sequential publisher, Server-Sent Events.\n")
        chart(scenario, name)
        for title, figure in CURVE_FIGURES:
            print(f"**{title}**\n")
            print(point_table(by_point, figure, point_label, point_format) + "\n")
    bayeux_section(results)
    if args.findings and os.path.exists(args.findings):
        print(open(args.findings).read().rstrip() + "\n")


if __name__ == "__main__":
    main()
