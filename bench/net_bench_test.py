#!/usr/bin/python3
"""The pure parts of bench/net_bench.py: reading wrk's report, the idle-client budget, the
canned SSE body. Nothing here is timed."""

import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import net_bench  # noqa: E402

# wrk 4.1.0's output for one run with bench/wrk_report.lua, as net_bench.py logged it (port elided).
WRK_OUTPUT = """Running 1s test @ https://127.0.0.1:PORT/v1/chat/completions
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.49ms    2.38ms  15.97ms   84.58%
    Req/Sec     7.38k     1.12k    9.10k    70.00%
  7491 requests in 1.03s, 3.03MB read
Requests/sec:   7303.35
Transfer/sec:      2.95MB
BENCH_JSON {"requests":7491,"duration_us":1025694,"bytes":3176184,"errors":{"connect":0,"read":0,"write":0,"status":0,"timeout":0},"latency_us":{"mean":1487.0,"max":15967,"p50":41,"p90":5190,"p99":9895,"p999":14335}}
"""


class ParseWrk(unittest.TestCase):
    def test_reads_the_done_hook_line(self):
        got = net_bench.parse_wrk(WRK_OUTPUT)
        self.assertEqual(got["requests"], 7491)
        self.assertAlmostEqual(got["rps"], 7491 / 1.025694)
        self.assertEqual(got["error_count"], 0)
        self.assertEqual(got["latency_us"]["p99"], 9895)

    def test_counts_every_kind_of_error(self):
        line = WRK_OUTPUT.replace('"read":0', '"read":2').replace('"status":0', '"status":3')
        self.assertEqual(net_bench.parse_wrk(line)["error_count"], 5)

    def test_no_line_is_no_result(self):
        self.assertIsNone(net_bench.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n"))


class Budget(unittest.TestCase):
    def test_stays_below_the_proxys_eviction_band(self):
        # hard limit 20000: 19872 connections; less 256 for backend connections, eviction from 17654 on.
        self.assertEqual(net_bench.idle_client_budget(20000, 10000), 10000)
        # hard limit 10000: (10000 - 128 - 256) * 0.9 - 64.
        self.assertEqual(net_bench.idle_client_budget(10000, 10000), 8590)
        self.assertEqual(net_bench.idle_client_budget(1 << 20, 10000), 10000)
        self.assertEqual(net_bench.idle_client_budget(100, 10000), 0)

    def test_the_limit_keeps_the_idle_clients_below_its_eviction_threshold(self):
        for clients in (500, 8878, 10000):
            limit = net_bench.idle_connection_limit(clients)
            self.assertGreater(limit - limit // 10, clients + 63)  # the proxy's make_room threshold


class Helpers(unittest.TestCase):
    def test_sse_body_has_the_events_then_done(self):
        body = net_bench.sse_body(200)
        self.assertEqual(body.count("data: "), 201)
        self.assertTrue(body.endswith("data: [DONE]\n\n"))

    def test_percentile_is_nearest_rank(self):
        values = list(range(1, 101))
        self.assertEqual(net_bench.percentile(values, 50), 50)
        self.assertEqual(net_bench.percentile(values, 99), 99)
        self.assertEqual(net_bench.percentile([7], 99), 7)

    def test_ratio_of_a_missing_figure_is_none(self):
        self.assertIsNone(net_bench.ratio(None, 3.0))
        self.assertEqual(net_bench.ratio(6.0, 3.0), 2.0)


if __name__ == "__main__":
    unittest.main()
