-- wrk script for bench/net_bench.py: one chat completion per request, and at the end one
-- JSON line (prefixed, so the driver finds it among wrk's own text) with the counts and the
-- latency percentiles wrk's histogram holds, in microseconds.
--
-- BENCH_STREAM=1 asks for a streamed answer: "stream":true in the body for backends that
-- read it (the simulator, through the proxy) and X-Bench-Stream for the nginx stand-in,
-- which cannot read a body and selects its canned SSE answer by that header.

local stream = os.getenv("BENCH_STREAM") == "1"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if stream then
  wrk.headers["X-Bench-Stream"] = "1"
  wrk.headers["Accept"] = "text/event-stream"
end
wrk.body = '{"model":"sim-model","messages":[{"role":"user","content":"Hello, how are you?"}]' ..
           (stream and ',"stream":true}' or '}')

function done(summary, latency, requests)
  local e = summary.errors
  local parts = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"bytes":%d', summary.bytes),
    string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
                  e.connect, e.read, e.write, e.status, e.timeout),
    string.format('"latency_us":{"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}',
                  latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
                  latency:percentile(99), latency:percentile(99.9)),
  }
  io.write("BENCH_JSON {" .. table.concat(parts, ",") .. "}\n")
end
