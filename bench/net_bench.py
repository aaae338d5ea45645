#!/usr/bin/python3
"""Network benchmark of verified-proxy against a direct connection and against nginx used as
a TLS proxy, in one process tree and one run (`make bench` runs it after vp_bench).

What runs, all on 127.0.0.1, started here and stopped on exit or Ctrl-C:

  sim A      verified-proxy-sim --export-backend-tls: PCCS, endpoints, NRAS and a TLS backend
             that mints reports bound to its TLS key; the key and chain are written out;
  sim B      a second simulator whose backend paces its SSE chunks (--token-delay), for the
             per-event delay and the concurrent-streams figures;
  nginx-be   nginx terminating TLS with sim A's exported key and certificate: it answers
             POST /v1/chat/completions itself (a canned chat JSON, or with X-Bench-Stream a
             200-event SSE body) and passes /v1/attestation/report to sim A, whose report binds
             that very key, so the proxy attests nginx-be like any backend;
  nginx-px   nginx as a plain-HTTP TLS proxy on loopback in front of nginx-be (and of sim B),
             keep-alive upstream, proxy_buffering off;
  proxies    verified-proxy --config <sim config.toml>, pointed at nginx-be with --connect-to
             (--e2ee off --verify-signatures off: nginx cannot seal or sign), and against the
             simulators' own backends with and without E2EE and signatures.

wrk drives the request rows (bench/wrk_report.lua prints its percentiles as JSON); the idle
clients and the per-event timing are Python clients here. Settings (environment):

  VP_BENCH_DURATION=3       seconds per measured wrk run (after VP_BENCH_WARMUP=1 seconds)
  VP_BENCH_CONCURRENCY=1,8,64
  VP_BENCH_IDLE_CLIENTS=10000   idle keep-alive clients (fewer when file descriptors forbid)
  VP_BENCH_STREAMS=1000     concurrent streams through the paced backend
  VP_BENCH_STREAMS_DURATION=10   seconds of them (after a 3-second warm-up that opens the
                            proxies' upstream connections)
  VP_BENCH_TOKEN_DELAY_MS=50, VP_BENCH_PACED_TOKENS=10   the paced backend (20 tokens/s)
  VP_BENCH_SSE_ROUNDS=6     paced streams per target for the per-event delay
  VP_BENCH_PROXY_LOG_LEVEL=warn   (nginx runs with access_log off)
  VP_BENCH_OUT=BUILD/bench  where results.json, logs and nginx's prefix go
  VP_BENCH_NGINX=PATH       the nginx to run (default: Debian's /usr/sbin/nginx, else $PATH's)
  VP_BENCH_THREADS=N        the proxy's --threads and nginx's worker_processes (default: the
                            cores); the ours1 column is the proxy with --threads 1

Usage: bench/net_bench.py [BUILD_DIR]   (default: build)
"""

import ctypes
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time

DOMAIN = "sim.completions.near.ai"
CHAT_PATH = "/v1/chat/completions"
SSE_EVENTS = 200
HERE = os.path.dirname(os.path.abspath(__file__))
# The proxy's --threads and nginx's worker_processes: one per core, as each defaults to.
CPUS = int(os.environ.get("VP_BENCH_THREADS") or os.cpu_count() or 1)
WRK_LOG = None  # every wrk run's own output is appended here
CHAT_JSON = ('{"id":"chatcmpl-bench","object":"chat.completion","created":0,"model":"sim-model",'
             '"choices":[{"index":0,"message":{"role":"assistant","content":"Hello! I am fine, thank you."},'
             '"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":8,"total_tokens":17}}')


def env_number(name, default):
    value = os.environ.get(name, "")
    return type(default)(value) if value else default


def sse_body(events):
    one = ('data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"sim-model",'
           '"choices":[{"index":0,"delta":{"content":"token%d "},"finish_reason":null}]}\n\n')
    return "".join(one % i for i in range(events)) + "data: [DONE]\n\n"


def parse_wrk(text):
    """The JSON line bench/wrk_report.lua's done() prints, as a dict with requests/s added;
    None when wrk printed none (it failed before the run ended)."""
    for line in text.splitlines():
        if line.startswith("BENCH_JSON "):
            result = json.loads(line[len("BENCH_JSON "):])
            seconds = result["duration_us"] / 1e6
            result["rps"] = result["requests"] / seconds if seconds > 0 else 0.0
            result["error_count"] = sum(result["errors"].values())
            return result
    return None


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def ratio(a, b):
    return a / b if a and b else None


def idle_client_budget(hard_limit, wanted):
    """How many idle clients the proxy can hold without evicting any: it counts one
    descriptor per client and per backend connection after a reserve of 128, and from 90 %
    of that on closes idle keep-alive clients (README "Connection limit"); 256 are left for
    the backend connections the clients' requests leave in its pool, and a margin keeps the
    driver's probes out of that band."""
    served = hard_limit - 128 - 256
    return max(0, min(wanted, served * 9 // 10 - 64))


def idle_connection_limit(idle_clients):
    """A --max-connections whose 90 % eviction threshold lies above `idle_clients` and the
    driver's probes (the proxy caps it at its descriptor budget)."""
    return (idle_clients + 64) * 10 // 9 + 1


# ----------------------------------------------------------------------------- processes

def _die_with_parent():
    # PR_SET_PDEATHSIG: a child outlives no driver, even one killed with SIGKILL.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


class Tree:
    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.procs = []

    def start(self, name, argv, env=None):
        log = open(os.path.join(self.log_dir, name + ".log"), "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, preexec_fn=_die_with_parent)
        proc.bench_name = name
        proc.bench_log = log.name
        self.procs.append(proc)
        return proc

    def stop(self, proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self):
        for proc in reversed(list(self.procs)):
            self.stop(proc)


def log_tail(proc, lines=15):
    with open(proc.bench_log, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, proc, ready, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}:\n{log_tail(proc)}")
        try:
            result = ready()
            if result:
                return result
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout}s:\n{log_tail(proc)}")


def port_open(port):
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


def rss_bytes(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def nginx_pids(master):
    with open(f"/proc/{master.pid}/task/{master.pid}/children") as f:
        return [master.pid] + [int(p) for p in f.read().split()]


# ----------------------------------------------------------------------------- clients

class Target:
    """Where a client sends its requests, and the processes whose CPU and memory it costs."""

    def __init__(self, name, port, tls_ctx=None, pids=None):
        self.name, self.port, self.tls_ctx = name, port, tls_ctx
        self.pids = pids or (lambda: [])

    @property
    def url(self):
        return f"{'https' if self.tls_ctx else 'http'}://127.0.0.1:{self.port}{CHAT_PATH}"

    def connection(self, timeout=30):
        if self.tls_ctx:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.tls_ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)


def chat_body(stream):
    return json.dumps({"model": "sim-model", "messages": [{"role": "user", "content": "Hello, how are you?"}],
                       "stream": stream})


def stream_headers():
    return {"Content-Type": "application/json", "X-Bench-Stream": "1", "Accept": "text/event-stream"}


def check_target(target, events):
    """One chat and one stream through `target`: the answers the rows will count, checked, so
    that a target answering errors fast cannot pass for a fast one."""
    conn = target.connection()
    conn.request("POST", CHAT_PATH, chat_body(False), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200 or "choices" not in json.loads(body):
        raise RuntimeError(f"{target.name}: chat answered {resp.status}: {body[:300]!r}")
    conn.request("POST", CHAT_PATH, chat_body(True), stream_headers())
    resp = conn.getresponse()
    body = resp.read().decode()
    count = sum(1 for line in body.split("\n") if line.startswith("data: "))
    kind = resp.getheader("Content-Type", "")
    if resp.status != 200 or count != events + 1 or not kind.startswith("text/event-stream"):
        raise RuntimeError(f"{target.name}: stream answered {resp.status} {kind} with {count} events: {body[:300]!r}")
    conn.close()


def timed_stream(target, conn):
    """Seconds from sending a streamed chat request on the kept-alive `conn` to each SSE
    event's arrival."""
    start = time.perf_counter()
    conn.request("POST", CHAT_PATH, chat_body(True), stream_headers())
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"{target.name}: paced stream answered {resp.status}")
    arrivals = []
    while True:
        line = resp.readline()
        if not line:
            break
        if line.startswith(b"data: "):
            arrivals.append(time.perf_counter() - start)
    return arrivals


def wrk_available():
    return shutil.which("wrk") is not None


def run_wrk(target, connections, seconds, stream, timeout="10s"):
    threads = min(2, connections)
    env = dict(os.environ, BENCH_STREAM="1" if stream else "0")
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", timeout,
            "-s", os.path.join(HERE, "wrk_report.lua"), target.url]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if WRK_LOG:
        with open(WRK_LOG, "a") as f:
            f.write(f"$ BENCH_STREAM={env['BENCH_STREAM']} {' '.join(argv)}\n{out.stdout}{out.stderr}\n")
    result = parse_wrk(out.stdout)
    if result is None:
        raise RuntimeError(f"wrk against {target.name} printed no result:\n{out.stdout}\n{out.stderr}")
    return result


def measure(target, connections, stream, warmup, seconds, timeout="10s"):
    if warmup > 0:
        run_wrk(target, connections, warmup, stream, timeout)
    pids = target.pids()
    cpu_before = cpu_seconds(pids) if pids else None
    result = run_wrk(target, connections, seconds, stream, timeout)
    if pids:
        result["cpu_s"] = cpu_seconds(pids) - cpu_before
        result["cpu_us_per_request"] = result["cpu_s"] * 1e6 / result["requests"] if result["requests"] else None
        result["rss_bytes"] = rss_bytes(pids)
    return result


def hold_idle_clients(target, count):
    """Opens `count` keep-alive connections, one request each (GET /_proxy/healthz or nginx's
    /healthz), and returns the RSS the target's processes grew by, per connection."""
    path = "/_proxy/healthz" if target.name.startswith("verified-proxy") else "/healthz"
    warm = target.connection()
    timed_stream(target, warm)  # attested and serving before the baseline
    warm.close()
    pids = target.pids()
    time.sleep(0.5)
    before = rss_bytes(pids)
    held, errors = [], 0
    for _ in range(count):
        conn = target.connection(timeout=10)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                errors += 1
            held.append(conn)
        except OSError:
            errors += 1
            conn.close()
    time.sleep(0.5)
    after = rss_bytes(pids)
    # A client the target closed meanwhile (evicted) reads EOF at once; an open one times out.
    closed = 0
    for conn in held[:: max(1, len(held) // 200)]:
        conn.sock.settimeout(0.01)
        try:
            if conn.sock.recv(1) == b"":
                closed += 1
        except (TimeoutError, BlockingIOError, socket.timeout):
            pass
    for conn in held:
        conn.close()
    return {"clients": len(held), "errors": errors, "rss_before": before, "rss_after": after,
            "rss_per_connection": (after - before) / len(held) if held else None,
            "sampled_closed_by_server": closed}


def concurrent_streams(target, count, seconds):
    """`count` wrk connections streaming from the paced backend for `seconds`; the target's
    largest RSS while they run."""
    pids = target.pids()
    peak = [rss_bytes(pids)]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.25):
            peak[0] = max(peak[0], rss_bytes(pids))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        run_wrk(target, count, 3, True, timeout="30s")
        result = run_wrk(target, count, seconds, True, timeout="30s")
    finally:
        stop.set()
        sampler.join()
    result["rss_peak"] = peak[0]
    return result


def sse_delays(direct, targets, rounds):
    """Per SSE event, arrival through each target minus arrival of the same event index in a
    direct stream of the same round (the paced backend sends every stream on the same clock),
    each on a connection kept alive across rounds so that no handshake is timed;
    direct-vs-direct is the noise floor of that pairing."""
    conns = {t.name: t.connection() for t in [direct, *targets]}
    for t in [direct, *targets]:
        timed_stream(t, conns[t.name])  # attests, opens the upstream connections
    samples = {t.name: [] for t in targets}
    samples["direct (noise floor)"] = []
    spread = {t.name: [] for t in targets}
    first = {t.name: [] for t in targets}
    arrivals = {name: [] for name in conns}
    for _ in range(rounds):
        base = timed_stream(direct, conns[direct.name])
        again = timed_stream(direct, conns[direct.name])
        arrivals[direct.name] += [base, again]
        samples["direct (noise floor)"] += [b - a for a, b in zip(base, again)]
        for t in targets:
            got = timed_stream(t, conns[t.name])
            if len(got) != len(base):
                raise RuntimeError(f"{t.name}: {len(got)} events, direct {len(base)}")
            samples[t.name] += [b - a for a, b in zip(base, got)]
            arrivals[t.name].append(got)
            spread[t.name].append(got[-1] - got[0])
            first[t.name].append(got[0] - base[0])
    for conn in conns.values():
        conn.close()
    out = {"arrival_ms_by_event": {name: [statistics.fmean(run[k] for run in runs) * 1e3 for k in range(len(runs[0]))]
                                   for name, runs in arrivals.items()}}
    for name, values in samples.items():
        out[name] = {"events": len(values), "p50_ms": percentile(values, 50) * 1e3,
                     "p99_ms": percentile(values, 99) * 1e3, "mean_ms": statistics.fmean(values) * 1e3}
        if name in spread:
            # Relayed as a stream: the events reach the client spread over the backend's pacing,
            # not all at once at the end.
            out[name]["first_to_last_ms"] = statistics.fmean(spread[name]) * 1e3
            out[name]["first_event_added_ms"] = statistics.median(first[name]) * 1e3
    return out


# ----------------------------------------------------------------------------- nginx

NGINX_COMMON = """daemon off;
master_process on;
worker_processes {workers};
worker_rlimit_nofile {nofile};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections {conns}; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/temp/body;
  proxy_temp_path {prefix}/temp/proxy;
  fastcgi_temp_path {prefix}/temp/fastcgi;
  uwsgi_temp_path {prefix}/temp/uwsgi;
  scgi_temp_path {prefix}/temp/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
{body}
}}
"""

# The backend: TLS with the simulator instance's own key, so the report sim A mints for the
# attestation request passed through binds the key the proxy sees on this connection.
NGINX_BACKEND = """  upstream sim_a {{ server 127.0.0.1:{sim_port}; keepalive 4; }}
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {chain};
    ssl_certificate_key {key};
    location = /v1/chat/completions {{
      if ($http_x_bench_stream) {{ rewrite ^ /bench-sse last; }}
      default_type application/json;
      return 200 '{chat}';
    }}
    # The SSE body is a file (too long for a return string). POST to a static file is 405;
    # error_page turns that into an internal GET of the same file.
    location = /bench-sse {{
      internal;
      default_type text/event-stream;
      alias {sse};
      error_page 405 =200 /bench-sse-get;
    }}
    location = /bench-sse-get {{
      internal;
      default_type text/event-stream;
      alias {sse};
      # A real backend streams chunked, without Content-Length: a (no-op) sub_filter makes
      # nginx drop the length and chunk the body.
      sub_filter_types text/event-stream;
      sub_filter '[DONE]' '[DONE]';
    }}
    location = /v1/attestation/report {{
      proxy_pass https://sim_a;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_server_name on;
      proxy_ssl_name {domain};
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate {ca};
    }}
    location / {{ return 404; }}
  }}
"""

NGINX_PROXY_SERVER = """  upstream {name} {{ server 127.0.0.1:{upstream_port}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port};
    location = /healthz {{ return 200 'ok'; }}
    location / {{
      proxy_pass https://{name};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host {domain};
      proxy_buffering off;
      proxy_ssl_server_name on;
      proxy_ssl_name {domain};
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate {ca};
      proxy_ssl_session_reuse on;
      proxy_read_timeout 300s;
    }}
  }}
"""


def start_nginx(tree, nginx, name, prefix, body, nofile, workers):
    os.makedirs(os.path.join(prefix, "temp"), exist_ok=True)
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_COMMON.format(prefix=prefix, body=body, nofile=nofile, conns=nofile - 64, workers=workers))
    return tree.start(name, [nginx, "-p", prefix, "-c", conf, "-e", os.path.join(prefix, "error.log")])


# ----------------------------------------------------------------------------- main

def start_sim(tree, name, build, out, extra):
    proc = tree.start(name, [os.path.join(build, "src", "verified-proxy-sim"), "--out", out, *extra])

    def serving():
        with open(proc.bench_log, errors="replace") as f:
            text = f.read()
        if "Serving until" not in text:
            return None
        return int(re.search(r"backend\s+\S+ -> 127\.0\.0\.1:(\d+)", text).group(1))

    return proc, wait_for(name, proc, serving)


def start_proxy(tree, name, build, config, port, log_level, extra):
    argv = [os.path.join(build, "src", "verified-proxy"), "--config", config, "--port", str(port),
            "--log-level", log_level, *extra]
    proc = tree.start(name, argv)

    def healthy():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/_proxy/healthz")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok

    wait_for(name, proc, healthy)
    return proc


def fmt_rps(v):
    return f"{v:,.0f}" if v is not None else "—"


def fmt_ratio(v):
    return f"{v:.2f}" if v is not None else "—"


def fmt_us(v):
    return f"{v:,.0f}" if v is not None else "—"


def fmt_mib(v):
    return f"{v / 1048576:.1f}" if v is not None else "—"


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    out_dir = os.path.abspath(os.environ.get("VP_BENCH_OUT", os.path.join(build, "bench")))
    duration = env_number("VP_BENCH_DURATION", 3)
    warmup = env_number("VP_BENCH_WARMUP", 1)
    concurrency = [int(c) for c in os.environ.get("VP_BENCH_CONCURRENCY", "1,8,64").split(",")]
    idle_wanted = env_number("VP_BENCH_IDLE_CLIENTS", 10000)
    streams = env_number("VP_BENCH_STREAMS", 1000)
    token_delay = env_number("VP_BENCH_TOKEN_DELAY_MS", 50)
    paced_tokens = env_number("VP_BENCH_PACED_TOKENS", 10)
    sse_rounds = env_number("VP_BENCH_SSE_ROUNDS", 6)
    streams_duration = env_number("VP_BENCH_STREAMS_DURATION", 10)
    log_level = os.environ.get("VP_BENCH_PROXY_LOG_LEVEL", "warn")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    idle_clients = idle_client_budget(hard, idle_wanted)

    shutil.rmtree(out_dir, ignore_errors=True)
    logs = os.path.join(out_dir, "logs")
    os.makedirs(logs)
    nginx = os.environ.get("VP_BENCH_NGINX") or shutil.which("nginx", path="/usr/sbin:" + os.environ.get("PATH", ""))
    if nginx and not (os.path.isfile(nginx) and os.access(nginx, os.X_OK)):
        nginx = None
    have_wrk = wrk_available()
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    results = {
        "settings": {"duration_s": duration, "warmup_s": warmup, "concurrency": concurrency,
                     "idle_clients_wanted": idle_wanted, "idle_clients": idle_clients, "nofile_hard": hard,
                     "streams": streams, "streams_duration_s": streams_duration, "token_delay_ms": token_delay, "paced_tokens": paced_tokens,
                     "sse_events": SSE_EVENTS, "proxy_log_level": log_level, "proxy_threads_flag": CPUS,
                     "nginx_workers": CPUS},
        "machine": {"cpus": os.cpu_count(), "loadavg_at_start": load},
        "skipped": [],
    }
    print(f"net bench: {os.cpu_count()} CPUs, load average {' '.join(load)} (other work on the machine skews "
          f"the figures); {duration}s runs after {warmup}s warm-up; logs in {logs}")
    if nginx:
        version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
        results["machine"]["nginx"] = version
        print(f"nginx: {nginx} ({version}, Debian's build), {CPUS} worker(s), as TLS backend and as TLS proxy; "
              f"verified-proxy --threads {CPUS} (and --threads 1 in the ours1 column)")
    else:
        line = "nginx not found (Debian: apt-get install nginx-light; or VP_BENCH_NGINX=PATH): the nginx-backend and nginx-proxy rows are skipped"
        results["skipped"].append(line)
        print(line)
    if not have_wrk:
        line = "wrk not installed (apt-get install wrk): every requests/s row is skipped"
        results["skipped"].append(line)
        print(line)
    if idle_clients < idle_wanted:
        print(f"idle clients: {idle_clients}, not {idle_wanted}: the descriptor hard limit is {hard}, the proxy "
              f"counts a descriptor per client and per backend connection and closes idle clients from 90 % of it on")

    tree = Tree(logs)
    global WRK_LOG
    WRK_LOG = os.path.join(logs, "wrk.txt")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Also when started with SIGINT ignored (a shell's background job): Ctrl-C or kill -INT
    # must still stop the tree.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        run(tree, build, out_dir, results, nginx, have_wrk, duration, warmup, concurrency, idle_clients, streams,
            streams_duration, token_delay, paced_tokens, sse_rounds, log_level, hard)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything")
        return 130
    finally:
        tree.stop_all()
    path = os.path.join(out_dir, "results.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(f"\nwrote {path}")
    return 0


def run(tree, build, out_dir, results, nginx, have_wrk, duration, warmup, concurrency, idle_clients, streams,
        streams_duration, token_delay, paced_tokens, sse_rounds, log_level, nofile):
    sim_a_dir = os.path.join(out_dir, "sim-a")
    sim_b_dir = os.path.join(out_dir, "sim-b")
    sim_a, sim_a_port = start_sim(tree, "sim-a", build, sim_a_dir,
                                  ["--export-backend-tls", "--stream-tokens", str(SSE_EVENTS)])
    sim_b, sim_b_port = start_sim(tree, "sim-b", build, sim_b_dir,
                                  ["--stream-tokens", str(paced_tokens), "--token-delay-ms", str(token_delay)])
    ca_ctx = ssl.create_default_context(cafile=os.path.join(sim_a_dir, "upstream-ca.pem"))
    ca_ctx.check_hostname = False  # clients dial 127.0.0.1; the chain is still verified
    ca_b = ssl.create_default_context(cafile=os.path.join(sim_b_dir, "upstream-ca.pem"))
    ca_b.check_hostname = False
    relay = ["--e2ee", "off", "--verify-signatures", "off"]

    direct_sim = Target("direct (sim)", sim_a_port, ca_ctx, lambda: [sim_a.pid])
    direct_paced = Target("direct (paced sim)", sim_b_port, ca_b)
    targets = {}
    nginx_be = nginx_px = None
    if nginx:
        sse = os.path.join(out_dir, "sse-body.txt")
        with open(sse, "w") as f:
            f.write(sse_body(SSE_EVENTS))
        be_port, px_port, px_paced_port = free_port(), free_port(), free_port()
        tls = os.path.join(sim_a_dir, "backend-tls", f"{DOMAIN}-0")
        nginx_be = start_nginx(tree, nginx, "nginx-backend", os.path.join(out_dir, "nginx-backend"), NGINX_BACKEND.format(
            sim_port=sim_a_port, port=be_port, chain=tls + ".chain.pem", key=tls + ".key.pem", chat=CHAT_JSON,
            sse=sse, domain=DOMAIN, ca=os.path.join(sim_a_dir, "upstream-ca.pem")), 4096, CPUS)
        wait_for("nginx backend", nginx_be, lambda: port_open(be_port))
        px_body = (NGINX_PROXY_SERVER.format(name="nginx_be", upstream_port=be_port, port=px_port, domain=DOMAIN,
                                             ca=os.path.join(sim_a_dir, "upstream-ca.pem")) +
                   NGINX_PROXY_SERVER.format(name="sim_b", upstream_port=sim_b_port, port=px_paced_port,
                                             domain=DOMAIN, ca=os.path.join(sim_b_dir, "upstream-ca.pem")))
        nginx_px = start_nginx(tree, nginx, "nginx-proxy", os.path.join(out_dir, "nginx-proxy"), px_body, nofile, CPUS)
        wait_for("nginx proxy", nginx_px, lambda: port_open(px_port))
        targets["direct"] = Target("direct", be_port, ca_ctx, lambda: nginx_pids(nginx_be))
        targets["nginx"] = Target("nginx proxy", px_port, pids=lambda: nginx_pids(nginx_px))
        nginx_paced = Target("nginx proxy (paced)", px_paced_port, pids=lambda: nginx_pids(nginx_px))

        port, port_1t = free_port(), free_port()
        to_nginx = ["--connect-to", f"{DOMAIN}:443:127.0.0.1:{be_port}"]
        ours = start_proxy(tree, "proxy-relay", build, os.path.join(sim_a_dir, "config.toml"), port, log_level,
                           relay + to_nginx + ["--threads", str(CPUS)])
        targets["ours"] = Target(f"verified-proxy --threads {CPUS}", port, pids=lambda: [ours.pid])
        if CPUS > 1:
            # The same proxy on one thread: how the relay scales with its shards.
            ours_1t = start_proxy(tree, "proxy-relay-1t", build, os.path.join(sim_a_dir, "config.toml"), port_1t,
                                  log_level, relay + to_nginx + ["--threads", "1"])
            targets["ours1"] = Target("verified-proxy --threads 1", port_1t, pids=lambda: [ours_1t.pid])
        for t in targets.values():
            check_target(t, SSE_EVENTS)
        with open(ours.bench_log, errors="replace") as f:
            startup = f.read()
        print("checked: chat and a 200-event stream answer 200 direct, through nginx and through verified-proxy, "
              "which attested nginx's key via the report sim A minted for it")
        results["proxy_startup_log"] = startup.splitlines()[-5:]
        results["idle_rss"] = {"verified-proxy": rss_bytes([ours.pid]), "nginx proxy": rss_bytes(nginx_pids(nginx_px))}
        with open(f"/proc/{ours.pid}/status") as f:
            results["proxy_threads"] = int(next(l for l in f if l.startswith("Threads:")).split()[1])

    # Request rows.
    rows = []
    if have_wrk and targets:
        for stream in (False, True):
            for c in concurrency:
                row = {"workload": "stream" if stream else "chat", "connections": c}
                for key, t in targets.items():
                    row[key] = measure(t, c, stream, warmup, duration)
                rows.append(row)
                print_progress(row)
    results["rows"] = rows

    # The simulator's own backend: what E2EE and signatures cost against the plain relay.
    sim_rows = []
    if have_wrk:
        p_relay, p_default = free_port(), free_port()
        relay_proxy = start_proxy(tree, "proxy-sim-relay", build, os.path.join(sim_a_dir, "config.toml"), p_relay,
                                  log_level, relay)
        default_proxy = start_proxy(tree, "proxy-sim-default", build, os.path.join(sim_a_dir, "config.toml"),
                                    p_default, log_level, [])
        sim_targets = {"direct": direct_sim,
                       "relay": Target("verified-proxy relay", p_relay, pids=lambda: [relay_proxy.pid]),
                       "e2ee": Target("verified-proxy E2EE+signatures", p_default, pids=lambda: [default_proxy.pid])}
        for t in sim_targets.values():
            check_target(t, SSE_EVENTS)
        for stream in (False, True):
            for c in (1, 8):
                row = {"workload": "stream" if stream else "chat", "connections": c}
                for key, t in sim_targets.items():
                    row[key] = measure(t, c, stream, warmup, duration)
                sim_rows.append(row)
                print(f"  sim backend {row['workload']:6} c={c:<3} direct {fmt_rps(row['direct']['rps'])}/s, "
                      f"relay {fmt_rps(row['relay']['rps'])}/s, E2EE+signatures {fmt_rps(row['e2ee']['rps'])}/s")
        tree.stop(relay_proxy)
        tree.stop(default_proxy)
    results["sim_rows"] = sim_rows

    # Paced backend: idle clients, per-event delay and many concurrent streams.
    p_paced = free_port()
    paced_proxy = start_proxy(tree, "proxy-paced", build, os.path.join(sim_b_dir, "config.toml"), p_paced, log_level,
                              relay + ["--max-connections", str(max(4096, idle_connection_limit(idle_clients),
                                                                    streams + 256))])
    paced = [Target("verified-proxy (paced)", p_paced, pids=lambda: [paced_proxy.pid])]
    if nginx:
        paced.append(nginx_paced)
    results["idle_clients"] = {}
    for t in paced:
        got = hold_idle_clients(t, idle_clients)
        results["idle_clients"][t.name] = got
        print(f"  {got['clients']} idle clients on {t.name}: RSS {fmt_mib(got['rss_before'])} → "
              f"{fmt_mib(got['rss_after'])} MiB, {got['rss_per_connection'] / 1024:.1f} KiB each, "
              f"{got['errors']} errors, {got['sampled_closed_by_server']} of a sample closed by it")
        time.sleep(1)
    results["sse_delay"] = sse_delays(direct_paced, paced, sse_rounds)
    for name, d in results["sse_delay"].items():
        if name == "arrival_ms_by_event":
            continue
        print(f"  SSE per-event added delay, {name}: p50 {d['p50_ms']:.2f} ms, p99 {d['p99_ms']:.2f} ms "
              f"({d['events']} events)")
    if have_wrk:
        results["streams"] = {}
        for t in paced:
            got = concurrent_streams(t, streams, streams_duration)
            results["streams"][t.name] = got
            print(f"  {streams} concurrent streams through {t.name}: {got['requests']} streams done, "
                  f"{got['error_count']} errors, RSS peak {fmt_mib(got['rss_peak'])} MiB")
        results["streams_nominal_ms"] = token_delay * paced_tokens
    print_table(results)


def print_progress(row):
    parts = [f"{k} {fmt_rps(row[k]['rps'])}/s" for k in ("direct", "ours", "ours1", "nginx") if k in row]
    print(f"  {row['workload']:6} c={row['connections']:<3} " + ", ".join(parts))


def print_table(results):
    rows = results.get("rows", [])
    if rows:
        threads = results.get("settings", {}).get("proxy_threads_flag", CPUS)
        one = "ours1" in rows[0]
        print(f"\nrequests/s (wrk, keep-alive; stream = 200 SSE events per answer); ours: --threads {threads}"
              + (", ours1: --threads 1" if one else ""))
        head = (f"{'workload':8} {'conn':>4} {'direct':>9} {'ours':>9} " + (f"{'ours1':>9} " if one else "") +
                f"{'nginx':>9} {'ours/dir':>8} {'ngx/dir':>8} {'ours/ngx':>8} " + (f"{'ours1/ngx':>9} " if one else "")
                + f"{'ours CPU':>9} {'ngx CPU':>9} {'errors':>6}")
        print(head)
        print("-" * len(head))
        for r in rows:
            d, o, n = r["direct"]["rps"], r["ours"]["rps"], r["nginx"]["rps"]
            keys = ("direct", "ours", "ours1", "nginx") if one else ("direct", "ours", "nginx")
            errors = sum(r[k]["error_count"] for k in keys)
            o1 = f"{fmt_rps(r['ours1']['rps']):>9} " if one else ""
            r1 = f"{fmt_ratio(ratio(r['ours1']['rps'], n)):>9} " if one else ""
            print(f"{r['workload']:8} {r['connections']:>4} {fmt_rps(d):>9} {fmt_rps(o):>9} {o1}{fmt_rps(n):>9} "
                  f"{fmt_ratio(ratio(o, d)):>8} {fmt_ratio(ratio(n, d)):>8} {fmt_ratio(ratio(o, n)):>8} {r1}"
                  f"{fmt_us(r['ours'].get('cpu_us_per_request')):>7}µs "
                  f"{fmt_us(r['nginx'].get('cpu_us_per_request')):>7}µs {errors:>6}")
        print("(CPU: user+system time of the proxy process, or of nginx's master and worker, per request)")
        print("\nlatency at 1 connection (µs): p50 / p99, and what the proxy adds to direct")
        for r in rows:
            if r["connections"] != 1:
                continue
            lat = {k: r[k]["latency_us"] for k in ("direct", "ours", "nginx")}
            print(f"  {r['workload']:6} direct {lat['direct']['p50']} / {lat['direct']['p99']}, "
                  f"ours {lat['ours']['p50']} / {lat['ours']['p99']} "
                  f"({lat['ours']['p50'] - lat['direct']['p50']:+d} / {lat['ours']['p99'] - lat['direct']['p99']:+d}), "
                  f"nginx {lat['nginx']['p50']} / {lat['nginx']['p99']} "
                  f"({lat['nginx']['p50'] - lat['direct']['p50']:+d} / {lat['nginx']['p99'] - lat['direct']['p99']:+d})")
    if results.get("sim_rows"):
        print("\nsimulator's own backend, requests/s (stream = 200 events): relay (--e2ee off --verify-signatures "
              "off) vs the defaults (E2EE + signature check)")
        for r in results["sim_rows"]:
            print(f"  {r['workload']:6} c={r['connections']:<2} direct {fmt_rps(r['direct']['rps'])}, relay "
                  f"{fmt_rps(r['relay']['rps'])} ({fmt_ratio(ratio(r['relay']['rps'], r['direct']['rps']))}), "
                  f"E2EE+sig {fmt_rps(r['e2ee']['rps'])} ({fmt_ratio(ratio(r['e2ee']['rps'], r['direct']['rps']))})"
                  f", CPU/req relay {fmt_us(r['relay'].get('cpu_us_per_request'))} µs, "
                  f"E2EE+sig {fmt_us(r['e2ee'].get('cpu_us_per_request'))} µs")
    if results.get("idle_rss"):
        print("\nmemory (RSS): idle, after start-up and the first attested requests: " +
              ", ".join(f"{k} {fmt_mib(v)} MiB" for k, v in results["idle_rss"].items()))
    for name, got in results.get("idle_clients", {}).items():
        print(f"  {got['clients']} idle keep-alive clients, {name}: {(got['rss_after'] - got['rss_before']) / 1048576:+.1f}"
              f" MiB ({got['rss_per_connection'] / 1024:.1f} KiB per connection), {got['errors']} errors")
    for name, got in results.get("streams", {}).items():
        print(f"  {results['settings']['streams']} concurrent paced streams, {name}: peak {fmt_mib(got['rss_peak'])} "
              f"MiB, {got['requests']} streams in {got['duration_us'] / 1e6:.0f} s, {got['error_count']} errors, "
              f"each p50 {got['latency_us']['p50'] / 1e3:.0f} ms / p99 {got['latency_us']['p99'] / 1e3:.0f} ms "
              f"(paced: {results['streams_nominal_ms']} ms)")
    for name, d in results.get("sse_delay", {}).items():
        if name == "arrival_ms_by_event":
            continue
        spread = (f"; its events spread over {d['first_to_last_ms']:.0f} ms, as the backend paced them"
                  if "first_to_last_ms" in d else "")
        first = f", first event {d['first_event_added_ms']:+.1f} ms" if "first_event_added_ms" in d else ""
        print(f"  SSE per-event delay vs direct, {name}: p50 {d['p50_ms']:.2f} ms, p99 {d['p99_ms']:.2f} ms{first}"
              f"{spread}")
    for line in results.get("skipped", []):
        print(f"skipped: {line}")


if __name__ == "__main__":
    sys.exit(main())
