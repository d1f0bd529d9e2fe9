#!/usr/bin/env python3
"""Tests of bench/results_md.py on made-up records: python3 bench/test_results_md.py"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def run_record(scenario, peer, point=None, **fields):
    record = {
        "target": "herald", "transport": "sse", "pace": {"kind": "burst"}, "subscribers": 1000, "topics": 1,
        "messages": 100, "payload_size": 100, "publishers": 1, "connected": 1000, "failed_connections": 0,
        "connect_retries": 0, "dropped_connections": 0, "connect_seconds": 0.5, "published": 100,
        "publish_failures": 0, "publish_seconds": 0.25, "publishes_per_second": 400.0,
        "expected_deliveries": 100000, "deliveries": 100000, "lost": 0, "cut_short": False, "duplicated": 0,
        "reordered": 0, "foreign": 0, "delivery_seconds": 0.3, "deliveries_per_second": 333333.0,
        "latency": {"p50_us": 1000, "p90_us": 2000, "p99_us": 3000, "max_us": 4000},
        "publish_ack": {"p50_us": 500, "p90_us": 600, "p99_us": 700, "max_us": 800},
        "target_rss_per_connection_bytes": 2048.0, "target_cpu_us_per_delivery": 1.5,
        "target_cpu_us_per_publish": 1500.0, "bench_cpu_us_per_delivery": 1.0,
        "scenario": scenario, "peer": peer, "wall_seconds": 30.0,
    }
    if point is not None:
        record["point"] = point
    record.update(fields)
    return record


class ResultsMarkdown(unittest.TestCase):
    def render(self, records, charts=()):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "results.jsonl")
            with open(path, "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in records)
            if charts:
                os.mkdir(os.path.join(tmp, "charts"))
                for name in charts:
                    open(os.path.join(tmp, "charts", name + ".png"), "wb").close()
            return subprocess.run(
                [sys.executable, os.path.join(HERE, "results_md.py"), path, "--findings", ""],
                check=True, capture_output=True, text=True,
            ).stdout

    def test_sequential_burst_shows_the_acknowledgement_latency_and_skipped_peers(self):
        text = self.render([
            run_record("burst-seq", "herald"),
            run_record("burst-seq", "axum"),
            {"skipped": "the naive hub has no WebSocket", "scenario": "burst-seq", "peer": "axum",
             "transport": "ws", "wall_seconds": 0},
            run_record("burst-seq", "herald", transport="ws"),
        ])
        self.assertIn("# Peer comparison: Herald, a naive axum hub", text)
        self.assertIn("## (a′) one topic, burst, one sequential publisher, Server-Sent Events", text)
        self.assertIn("| publish acknowledged, p50 / p99 (ms) | 0.50 / 0.70 | 0.50 / 0.70 |", text)
        self.assertIn("1 publisher.", text)
        websocket = text.split("one sequential publisher, WebSocket")[1]
        self.assertIn("| deliveries/s | 333,333 | – |", websocket)
        self.assertIn("The run took 90 s (servers", text)
        self.assertIn("): burst-seq 90 s.", text)

    def test_curves_and_publishing_are_tables_by_point_with_their_charts(self):
        text = self.render([
            run_record("curve-subs", "herald", 1000),
            run_record("curve-subs", "herald", 5000, lost=3),
            run_record("curve-subs", "nchan", 1000, target_cpu_us_per_delivery=10.0),
            run_record("publish", "herald-disk", 16, subscribers=0, publishes_per_second=61234.4),
            {"error": "the server did not start", "scenario": "publish", "peer": "nchan", "transport": "sse",
             "point": 16, "wall_seconds": 1},
        ], charts=["curve-subs"])
        curve = text.split("## (f) how cost grows: subscribers")[1]
        self.assertIn("![(f) how cost grows: subscribers](charts/curve-subs.png)", curve)
        self.assertIn("| 1,000 | 1.50 | 10.00 |", curve)
        self.assertIn("| 5,000 | 1.50 ⚠ | – |", curve)
        publish = text.split("## (e) publishing with no subscribers")[1].split("## (f)")[0]
        self.assertIn("| 16 | 61,234 | the server did not start |", publish)
        self.assertNotIn("charts/publish.png", publish)

    def test_bayeux_compares_herald_with_faye_per_cpu_second(self):
        text = self.render([
            run_record("bayeux", "herald", transport="bayeux-ws", target_cpu_us_per_delivery=0.5),
            run_record("bayeux", "faye", transport="bayeux-ws", target="faye", target_cpu_us_per_delivery=5.0),
            run_record("bayeux-idle", "herald", transport="bayeux-long-poll", pace={"kind": "idle"}),
            {"error": "the server did not start", "scenario": "bayeux-idle", "peer": "faye",
             "transport": "bayeux-long-poll", "wall_seconds": 1},
        ])
        self.assertIn("# Peer comparison: Herald, Faye", text)
        bayeux = text.split("## (i) Bayeux: Herald vs Faye")[1]
        websocket = bayeux.split("### burst, Bayeux over WebSocket")[1]
        self.assertIn("| | Herald (memory store) | Faye (Node.js, npm faye) |", websocket)
        self.assertIn("| deliveries per server CPU second | 2,000,000 | 200,000 |", websocket)
        self.assertIn("Herald 10.0× Faye's.", websocket)
        idle = bayeux.split("### idle, Bayeux over long-polling")[1]
        self.assertIn("| memory per idle connection (KiB) | 2.0 | the server did not start |", idle)
        self.assertNotIn("## (a)", text)

    def test_results_of_earlier_runs_still_render(self):
        old = run_record("burst", "pushpin")
        for key in ("publish_ack", "publishes_per_second", "target_cpu_us_per_publish", "wall_seconds"):
            del old[key]
        text = self.render([old])
        self.assertIn("| publish acknowledged, p50 / p99 (ms) | – |", text)
        self.assertNotIn("The run took", text)


if __name__ == "__main__":
    unittest.main()
