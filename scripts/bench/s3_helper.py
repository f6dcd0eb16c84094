"""Helper of scripts/bench/s3.sh: times 1 GiB S3 PutObject/GetObject through smlocal against `cp`, and
renders the "S3" section of docs/BENCHMARKS.md.

  s3_helper.py measure URL --pid PID --src FILE --work DIR --results FILE --rounds N --cold-rounds N
  s3_helper.py boto3 {put,get} URL BUCKET KEY FILE {lean,default}   (one timed call; prints JSON)
  s3_helper.py render RESULTS --meta FILE [--write DOC]

`measure` appends one JSON line per timed command to RESULTS. Every command is spawned, timed from spawn
to exit with time.perf_counter (boto3 rows: the put_object/get_object call alone, timed inside the
child), after `sync` (untimed) so that no earlier write-back lands in the measurement. Warm rounds leave
the page cache as it is (the 1 GiB source and the stored object are cached); cold rounds drop it
(`sync; echo 3 > /proc/sys/vm/drop_caches`) before every command. While an upload runs, a thread samples
the server's VmRSS every 5 ms; server CPU time and context switches come from /proc before and after.
"""

import argparse
import resource
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_doc  # noqa: E402

SECTION_TITLE = "## S3 throughput: 1 GiB PutObject and GetObject vs cp (scripts/bench/s3.sh)"
BUCKET = "bench"
OBJECT = "object-1g"  # the object every GET reads, PUT once by curl before the rounds
COMMAND_BOUND_S = 600
MIB = 1024 * 1024
HERE = os.path.dirname(os.path.abspath(__file__))

# Ways, in the order of the tables. kind: what the target compares; "diag": diagnostic only.
WAYS = {
    "cp": ("`cp SRC DST` (same disk; coreutils copies with copy_file_range, in the kernel)", "reference", "copy"),
    "dd": ("`dd if=SRC of=DST bs=1M` (diagnostic: a user-space copy through a 1 MiB buffer)", "diag", "copy"),
    "md5sum": ("`md5sum SRC` (diagnostic: the MD5 the server computes for the ETag, alone)", "diag", "read"),
    "curl_put": ("`curl -T SRC URL/bench/KEY` (PutObject, unsigned)", "target", "put"),
    "curl_get": ("`curl -o DST URL/bench/KEY` (GetObject)", "target", "get"),
    "curl_put_t1": ("`curl -T` as above, to a second smlocal started with `--threads 1` (diagnostic)", "diag", "put"),
    "http_get": ("Python `http.client` GET, `readinto` a 1 MiB buffer, written to the file (diagnostic: a thin "
                 "client with large writes; curl 7.88 writes its `-o` file 8 KiB per write(), per strace)", "diag", "get"),
    "boto3_put": ("boto3 `put_object(Body=<file>)`, checksums only when required, unsigned payload", "client", "put"),
    "boto3_get": ("boto3 `get_object` + `shutil.copyfileobj(Body, file, 1 MiB)`, same config", "client", "get"),
    "boto3_default_put": ("boto3 `put_object(Body=<file>)`, botocore defaults (CRC32 + SHA-256 of the body over "
                          "http)", "client", "put"),
    "aws_up": ("`aws s3 cp SRC s3://bench/KEY` (multipart, 8 MiB parts, 10 threads; whole command)", "client", "put"),
    "aws_down": ("`aws s3 cp s3://bench/KEY DST` (ranged GETs, 8 MiB, 10 threads; whole command)", "client", "get"),
}
WARM_ORDER = ["cp", "curl_put", "curl_get", "curl_put_t1", "http_get", "dd", "md5sum", "boto3_put", "boto3_get",
              "boto3_default_put", "aws_up", "aws_down"]
COLD_ORDER = ["cp", "curl_put", "curl_get"]


def log(message):
    print(f"[s3.sh {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- boto3 child: one timed call ------------------------------------------------------------------

def boto3_call(args):
    import boto3
    from botocore.config import Config

    if args.config == "lean":
        # No CRC32 (botocore >= 1.36 computes one by default) and no SHA-256 of the body (botocore signs
        # the payload over plain http unless told not to): the client then only moves bytes.
        config = Config(request_checksum_calculation="when_required", response_checksum_validation="when_required",
                        s3={"addressing_style": "path", "payload_signing_enabled": False})
    else:
        config = Config(s3={"addressing_style": "path"})
    s3 = boto3.client("s3", endpoint_url=args.url, region_name="us-east-1", aws_access_key_id="local",
                      aws_secret_access_key="local", config=config)
    s3.head_bucket(Bucket=args.bucket)  # connect (and load the models) before the clock starts
    t0 = time.perf_counter()
    if args.op == "put":
        with open(args.file, "rb") as body:
            s3.put_object(Bucket=args.bucket, Key=args.key, Body=body)
    else:
        response = s3.get_object(Bucket=args.bucket, Key=args.key)
        with open(args.file, "wb") as out:
            shutil.copyfileobj(response["Body"], out, MIB)
    print(json.dumps({"seconds": time.perf_counter() - t0}))


def http_get(args):
    """GET into a file through http.client with 1 MiB reads; prints JSON {"seconds"} of the request alone."""
    import http.client
    from urllib.parse import urlparse

    url = urlparse(args.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=COMMAND_BOUND_S)
    conn.connect()
    buffer = memoryview(bytearray(MIB))
    t0 = time.perf_counter()
    conn.request("GET", url.path)
    response = conn.getresponse()
    if response.status != 200:
        sys.exit(f"GET {args.url}: HTTP {response.status}")
    with open(args.file, "wb") as out:
        while n := response.readinto(buffer):
            out.write(buffer[:n])
    print(json.dumps({"seconds": time.perf_counter() - t0}))


# --- measure ----------------------------------------------------------------------------------------

class Server:
    """The smlocal process, seen through /proc."""

    def __init__(self, pid):
        self.pid = pid
        self.ticks = os.sysconf("SC_CLK_TCK")

    def status(self, field):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise RuntimeError(f"no {field} in /proc/{self.pid}/status (did the server exit?)")

    def cpu_s(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.ticks  # utime + stime, all threads

    def context_switches(self):
        total = 0
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            try:
                with open(f"/proc/{self.pid}/task/{tid}/status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                            total += int(line.split()[1])
            except OSError:
                pass  # the thread ended
        return total


class RssSampler(threading.Thread):
    """Samples the server's VmRSS every 5 ms until stopped; keeps the maximum."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.max_kb, self.samples = server, 0, 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            self.max_kb = max(self.max_kb, self.server.status("VmRSS"))
            self.samples += 1
            self.done.wait(0.005)

    def stop(self):
        self.done.set()
        self.join()
        self.max_kb = max(self.max_kb, self.server.status("VmRSS"))


def run_checked(command, what, env=None, capture=False):
    result = subprocess.run(command, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env, timeout=COMMAND_BOUND_S)
    if result.returncode != 0:
        sys.exit(f"{what} failed ({result.returncode}): {result.stderr.decode(errors='replace')[-600:]}")
    return result.stdout.decode() if capture else ""


def http_request(method, url, expect=(200, 204)):
    request = urllib.request.Request(url, method=method, data=b"" if method == "PUT" else None)
    with urllib.request.urlopen(request, timeout=60) as response:
        if response.status not in expect:
            sys.exit(f"{method} {url}: HTTP {response.status}")
        return dict(response.headers)


def drop_caches():
    """True if the kernel accepted the request (needs root, and a kernel that lets a VM guest do it)."""
    subprocess.run(["sync"], check=True)
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def cached_fraction(path):
    """Share of the file's pages in the page cache (fincore from util-linux), or None if unknown."""
    if not shutil.which("fincore"):
        return None
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES,SIZE", path],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        res, size = (int(v) for v in out.stdout.split())
        return res / size if size else None
    except ValueError:
        return None


def measure(args):
    server = Server(args.pid)
    size = os.path.getsize(args.src)
    base = args.url.rstrip("/")
    # The single-threaded server, for one diagnostic way (skipped when not given).
    server1 = Server(args.pid1) if args.pid1 else None
    base1 = args.url1.rstrip("/") if args.url1 else None
    warm_order = [w for w in WARM_ORDER if w != "curl_put_t1" or server1]
    work = args.work
    aws_env = dict(os.environ, AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local",
                   AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=args.aws_config,
                   AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    aws_env.pop("AWS_PROFILE", None)
    results = open(args.results, "a")

    def record(entry):
        results.write(json.dumps(entry) + "\n")
        results.flush()

    log(f"source {args.src}: {size:,} bytes; computing its MD5")
    md5 = hashlib.md5()
    with open(args.src, "rb") as f:
        while chunk := f.read(8 * MIB):
            md5.update(chunk)
    src_md5 = md5.hexdigest()
    http_request("PUT", f"{base}/{BUCKET}")
    if base1:
        http_request("PUT", f"{base1}/{BUCKET}")
    run_checked(["curl", "-sS", "-f", "-o", os.devnull, "-T", args.src, f"{base}/{BUCKET}/{OBJECT}"], "setup PUT")
    etag = http_request("HEAD", f"{base}/{BUCKET}/{OBJECT}").get("ETag", "").strip('"')
    if etag != src_md5:
        sys.exit(f"the stored object's ETag {etag} is not the source's MD5 {src_md5}")
    rss_idle_kb = server.status("VmRSS")
    record({"type": "setup", "bytes": size, "md5": src_md5, "rss_before_kb": rss_idle_kb,
            "fincore": shutil.which("fincore") is not None})

    outputs = {"cp": "cp.bin", "dd": "dd.bin", "curl_get": "curl.bin", "http_get": "http.bin", "boto3_get": "boto3.bin",
               "aws_down": "aws.bin"}

    def command_for(way, key):
        dst = os.path.join(work, outputs.get(way, "none"))
        url = f"{base}/{BUCKET}/{key}"
        py = [sys.executable, os.path.abspath(__file__), "boto3"]
        aws = ["aws", "--endpoint-url", base, "--only-show-errors", "s3", "cp"]
        return {
            "cp": ["cp", args.src, dst],
            "dd": ["dd", f"if={args.src}", f"of={dst}", "bs=1M", "status=none"],
            "md5sum": ["md5sum", args.src],
            "curl_put": ["curl", "-sS", "-f", "-o", os.devnull, "-T", args.src, url],
            "curl_put_t1": ["curl", "-sS", "-f", "-o", os.devnull, "-T", args.src, f"{base1}/{BUCKET}/{key}"],
            "curl_get": ["curl", "-sS", "-f", "-o", dst, f"{base}/{BUCKET}/{OBJECT}"],
            "http_get": [sys.executable, os.path.abspath(__file__), "http-get", f"{base}/{BUCKET}/{OBJECT}", dst],
            "boto3_put": py + ["put", base, BUCKET, key, args.src, "lean"],
            "boto3_get": py + ["get", base, BUCKET, OBJECT, dst, "lean"],
            "boto3_default_put": py + ["put", base, BUCKET, key, args.src, "default"],
            "aws_up": aws + [args.src, f"s3://{BUCKET}/{key}"],
            "aws_down": aws + [f"s3://{BUCKET}/{OBJECT}", dst],
        }[way]

    def one(way, round_no, cache):
        key = f"put-{way}-{cache}-{round_no}"
        dst = os.path.join(work, outputs.get(way, "none"))
        if os.path.exists(dst):
            os.remove(dst)
        if cache == "cold":
            if not drop_caches():
                return False
        else:
            subprocess.run(["sync"], check=True)
        src_cached = cached_fraction(args.src)
        command = command_for(way, key)
        kind = WAYS[way][2]
        srv, srv_base = (server1, base1) if way == "curl_put_t1" else (server, base)
        sampler = RssSampler(srv) if kind == "put" else None
        cpu0, ctx0 = srv.cpu_s(), srv.context_switches()
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if sampler:
            sampler.start()
        t0 = time.perf_counter()
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=aws_env,
                                timeout=COMMAND_BOUND_S)
        seconds = time.perf_counter() - t0
        if sampler:
            sampler.stop()
        cpu1, ctx1 = srv.cpu_s(), srv.context_switches()
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        client_cpu = (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)
        if result.returncode != 0:
            sys.exit(f"{way} failed ({result.returncode}): {result.stderr.decode(errors='replace')[-600:]}")
        entry = {"type": "run", "way": way, "round": round_no, "cache": cache, "seconds": seconds,
                 "wall_s": seconds, "bytes": size, "server_cpu_s": cpu1 - cpu0, "server_ctx": ctx1 - ctx0,
                 "client_cpu_s": client_cpu,
                 "src_cached": src_cached}
        if way.startswith(("boto3", "http_get")):
            entry["seconds"] = json.loads(result.stdout.decode().strip().splitlines()[-1])["seconds"]
        if sampler:
            entry["rss_max_kb"], entry["rss_samples"] = sampler.max_kb, sampler.samples
        # Check what was moved (untimed): sizes always, contents in the first round.
        if kind == "put":
            headers = http_request("HEAD", f"{srv_base}/{BUCKET}/{key}")
            if int(headers.get("Content-Length", -1)) != size:
                sys.exit(f"{way}: stored {headers.get('Content-Length')} bytes, not {size}")
            if way.startswith("curl_put") and headers.get("ETag", "").strip('"') != src_md5:
                sys.exit(f"{way}: ETag {headers.get('ETag')} is not the source's MD5")
            http_request("DELETE", f"{srv_base}/{BUCKET}/{key}")
        elif kind in ("get", "copy"):
            if os.path.getsize(dst) != size:
                sys.exit(f"{way}: wrote {os.path.getsize(dst)} bytes, not {size}")
            if round_no == 1:
                run_checked(["cmp", "-s", args.src, dst], f"{way}: cmp with the source")
        if dst and os.path.exists(dst):
            os.remove(dst)
        record(entry)
        log(f"  {cache} round {round_no} {way}: {seconds:.3f} s, {size / MIB / seconds:,.0f} MiB/s"
            + (f", server VmRSS max {entry['rss_max_kb'] / 1024:.1f} MiB" if sampler else ""))
        return True

    # Warm-up (untimed): one curl PUT and GET, so that first-touch costs are not in round 1.
    subprocess.run(["sync"], check=True)
    one_off = os.path.join(work, "warmup.bin")
    run_checked(["curl", "-sS", "-f", "-o", os.devnull, "-T", args.src, f"{base}/{BUCKET}/warmup"], "warm-up PUT")
    run_checked(["curl", "-sS", "-f", "-o", one_off, f"{base}/{BUCKET}/{OBJECT}"], "warm-up GET")
    os.remove(one_off)
    http_request("DELETE", f"{base}/{BUCKET}/warmup")

    for round_no in range(1, args.rounds + 1):
        # Rotate the order, so that slow drifts in background load hit every way alike.
        shift = (round_no - 1) % len(warm_order)
        for way in warm_order[shift:] + warm_order[:shift]:
            one(way, round_no, "warm")
    # Before the cold rounds, so that the cache is still warm.
    if args.perf:
        for way in ("curl_put", "curl_get"):
            perf_stat(way, command_for(way, f"perf-{way}"), server, size, record, work, base)
    cold_ok = True
    for round_no in range(1, args.cold_rounds + 1):
        shift = (round_no - 1) % len(COLD_ORDER)
        for way in COLD_ORDER[shift:] + COLD_ORDER[:shift]:
            if not one(way, round_no, "cold"):
                cold_ok = False
                log("drop_caches refused: no cold rounds")
                break
        if not cold_ok:
            break
    record({"type": "end", "rss_after_kb": server.status("VmRSS"), "vmhwm_kb": server.status("VmHWM"),
            "drop_caches_ok": cold_ok if args.cold_rounds else None})


PERF_EVENTS = ["task-clock", "context-switches"] + [f"syscalls:sys_enter_{name}" for name in (
    "recvmsg", "recvfrom", "read", "sendmsg", "writev", "write", "pread64", "epoll_wait", "epoll_ctl", "futex",
    "timerfd_settime")]


def perf_stat(way, command, server, size, record, work, base):
    """One more curl PUT or GET with `perf stat -p <server>` counting the server's system calls."""
    out = os.path.join(work, f"perf-{way}.csv")
    subprocess.run(["sync"], check=True)
    perf = subprocess.Popen(["perf", "stat", "-x", ",", "-e", ",".join(PERF_EVENTS), "-p", str(server.pid), "-o", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)  # perf attaches
    t0 = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=COMMAND_BOUND_S)
    seconds = time.perf_counter() - t0
    time.sleep(0.1)
    perf.send_signal(signal.SIGINT)
    perf.wait(timeout=30)
    if result.returncode != 0:
        sys.exit(f"perf pass {way} failed: {result.stderr.decode(errors='replace')[-400:]}")
    counts = {}
    for line in open(out) if os.path.exists(out) else []:
        parts = line.strip().split(",")
        if len(parts) >= 3 and parts[2] in PERF_EVENTS:
            try:
                counts[parts[2].replace("syscalls:sys_enter_", "")] = float(parts[0])
            except ValueError:
                pass  # "<not supported>"
    if way == "curl_put":
        http_request("DELETE", f"{base}/{BUCKET}/perf-{way}")
    for name in os.listdir(work):
        if name.endswith(".bin"):
            os.remove(os.path.join(work, name))
    if counts:
        record({"type": "perf", "way": way, "seconds": seconds, "bytes": size, "counts": counts})
        log(f"  perf stat {way}: {seconds:.2f} s, {counts}")
    else:
        log(f"  perf stat {way}: no counts ({perf.stderr.read().decode(errors='replace')[-200:]})")


# --- render -----------------------------------------------------------------------------------------

def plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def size_label(size):
    return f"{size / MIB / 1024:g} GiB" if size % (1024 * MIB) == 0 else f"{size / MIB:,.0f} MiB"


def mem_gib():
    with open("/proc/meminfo") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("MemTotal:")) / 1024 / 1024


def verdict(ok):
    return "**PASS**" if ok else "**MISS**"


def mib_s(entry):
    return entry["bytes"] / MIB / entry["seconds"]


def observations(by, med, perf, size, warm_cp):
    """What the figures say about where smlocal's time goes, from this run's numbers."""
    out = []
    put, md5, get, dd = by("curl_put", "warm"), by("md5sum", "warm"), by("curl_get", "warm"), by("dd", "warm")
    if put and md5 and warm_cp:
        put_s, put_cpu = med([r["seconds"] for r in put]), med([r["server_cpu_s"] for r in put])
        md5_s = med([r["seconds"] for r in md5])
        ceiling = size / MIB / md5_s
        bound = "bound by smlocal's CPU" if put_cpu >= 0.7 * put_s else "not CPU-bound in smlocal"
        text = (f"- PutObject is {bound}: {put_cpu:.2f} s of server CPU for a {put_s:.2f} s upload (median, warm). "
                f"The MD5 it computes as the body streams in (S3's ETag; on a thread of its own, alongside the "
                f"socket and the disk) costs about {md5_s:.2f} s on its own (`md5sum` over the same bytes), so MD5 "
                f"bounds one upload near {ceiling:,.0f} MiB/s (OpenSSL in smlocal is a little faster than md5sum), "
                f"{ceiling / warm_cp * 100:.0f}% of cp's warm figure")
        if ceiling < 0.5 * warm_cp:
            text += (": against an in-kernel cp the target cannot be met while every upload's ETag is its MD5, "
                     "as S3's is (one MD5 is sequential)")
        out.append(text + ".")
    p = perf.get("curl_put")
    if p:
        c = p["counts"]
        reads = c.get("recvmsg", 0) + c.get("recvfrom", 0) + c.get("read", 0)
        if reads:
            per_read = p["bytes"] / reads
            text = (f"- The rest of the PUT time is the read loop: smlocal takes the body off the socket in "
                    f"{per_read:,.0f}-byte reads ({int(reads):,} for {size_label(p['bytes'])}), and every read is a "
                    f"trip through Asio: {int(c.get('timerfd_settime', 0)):,} timerfd_settime (the stream's expiry "
                    f"re-armed per read), {int(c.get('epoll_ctl', 0)):,} epoll_ctl, {int(c.get('futex', 0)):,} futex "
                    f"and {int(c.get('context-switches', 0)):,} context switches between the two worker threads.")
            if per_read < 16 * 1024:
                text += (" Likely cause (not changed here): `api/http/http_server.cpp` prepares its flat_buffer "
                         "with `read_chunk` = 8 KiB, and Beast 1.74's `http::async_read` asks the socket for "
                         "`read_size(buffer, 65536)` = min(65536, max(512, capacity − size)), i.e. the free room of "
                         "that 8 KiB buffer, so the buffer never grows for the body. Reading large bodies in blocks "
                         "of 256 KiB–1 MiB (a bigger buffer once plan_body chose a file, or reading straight into "
                         "the file sink) would cut these calls by 30–100×.")
            out.append(text)
    t1 = by("curl_put_t1", "warm")
    if put and t1:
        t1_s, t1_cpu = med([r["seconds"] for r in t1]), med([r["server_cpu_s"] for r in t1])
        put_s, put_cpu = med([r["seconds"] for r in put]), med([r["server_cpu_s"] for r in put])
        out.append(f"- The same upload to a server started with `--threads 1` takes {t1_s:.2f} s and {t1_cpu:.2f} s of "
                   f"its CPU, against {put_s:.2f} s and {put_cpu:.2f} s with the default 2 threads: with two, the "
                   f"connection's strand hops between threads read after read, and the wake-ups (futex, context "
                   f"switches) cost more CPU than the second thread gives back.")
    if get and warm_cp:
        get_cpu = med([r["server_cpu_s"] for r in get])
        get_client = med([r.get("client_cpu_s") for r in get])
        get_rate = med([mib_s(r) for r in get])
        text = (f"- GetObject costs smlocal little CPU ({get_cpu:.2f} s for {size_label(size)}: 1 MiB preads and "
                f"socket writes); at {get_rate:,.0f} MiB/s the rest is the loopback TCP copy and the client")
        if get_client is not None:
            text += f" (curl itself: {get_client:.2f} s of CPU)"
        http = by("http_get", "warm")
        if http:
            http_rate = med([mib_s(r) for r in http])
            text += (f". A client that writes the file in 1 MiB blocks (Python http.client) reads the same object at "
                     f"{http_rate:,.0f} MiB/s, {http_rate / warm_cp * 100:.0f}% of cp")
        if dd:
            dd_rate = med([mib_s(r) for r in dd])
            text += f"; a user-space `dd bs=1M` copy runs at {dd_rate:,.0f} MiB/s here, {dd_rate / warm_cp * 100:.0f}% of cp"
            if dd_rate < 0.5 * warm_cp:
                text += (": on this machine any way that moves the bytes through a process, rather than in the "
                         "kernel as cp does, misses half of a warm cp before it does any work of its own")
        out.append(text + ".")
    return (["Observations:", ""] + out + [""]) if out else []


def render(args):
    records = [json.loads(line) for line in open(args.results) if line.strip()]
    meta = dict(line.rstrip("\n").split("=", 1) for line in open(args.meta) if "=" in line)
    setup = next(r for r in records if r["type"] == "setup")
    end = next((r for r in records if r["type"] == "end"), {})
    runs = [r for r in records if r["type"] == "run"]
    size = setup["bytes"]
    facts = bench_doc.machine_facts()

    def by(way, cache):
        return [r for r in runs if r["way"] == way and r["cache"] == cache]

    def med(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    lines = [SECTION_TITLE, ""]
    lines.append(f"Command: `{meta.get('command', 'scripts/bench/s3.sh --write')}` (progress on stderr, this "
                 f"section on stdout); the measurements took {meta.get('elapsed_s', '?')} s.")
    lines.append("")
    lines.append(f"- Machine: {facts['nproc']} CPUs (`nproc`), {facts['cpu']}, {facts['os']}, kernel "
                 f"{facts['kernel']}; one file system (`{meta.get('fs', '?')}`) holds the source, every "
                 f"destination and smlocal's S3 folder. {bench_doc.load_text(meta)}")
    lines.append(f"- Date: {meta.get('date', '?')}. smlocal `{meta.get('git', '?')}`, Release build "
                 f"(`build-bench`), `serve --port 0 --threads 2 --data-dir <tmp>`; S3 on the same port, path-style "
                 f"`http://127.0.0.1:PORT/{BUCKET}/KEY`. Clients: curl {meta.get('curl_version', '?')}, boto3/botocore "
                 f"{meta.get('botocore_version', '?')}, {meta.get('aws_version', '?')}, coreutils "
                 f"{meta.get('coreutils_version', '?')} `cp`.")
    lines.append(f"- Data: one {size_label(size)} ({size:,} bytes) file of random bytes. Every command is "
                 f"spawned and timed to its exit (`time.perf_counter`), after an untimed `sync`, so write-back of "
                 f"an earlier command does not land in it; the destination (a file, or a fresh key, deleted "
                 f"afterwards) never exists beforehand. Figures are MiB/s = bytes / 2^20 / seconds, median over the rounds; "
                 f"the rounds rotate the order of the ways. Sizes are checked after every command, contents "
                 f"(`cmp`, ETag = MD5) in round 1.")
    warm_cached = med([r.get("src_cached") for r in runs if r["cache"] == "warm"])
    cold_cached = med([r.get("src_cached") for r in runs if r["cache"] == "cold"])
    drop_ok = end.get("drop_caches_ok")
    cache_text = ("- Page cache: **warm** rounds leave it alone: the source and the stored object stay cached "
                  f"({mem_gib():.0f} GiB of RAM), and writes end in the page cache, so a warm figure is the cost of moving "
                  "bytes through the kernel and the program, not the disk's speed")
    if warm_cached is not None:
        cache_text += f" (`fincore`: median {warm_cached * 100:.0f}% of the source cached when a warm command started)"
    cache_text += ". **Cold** rounds run `sync; echo 3 > /proc/sys/vm/drop_caches` before each command"
    if drop_ok:
        cache_text += (f"; the kernel of this VM accepts it (as root)"
                       + (f", `fincore`: median {cold_cached * 100:.0f}% of the source cached afterwards"
                          if cold_cached is not None else "")
                       + ", so the source (cp, PUT) or the object (GET) comes from the virtual disk.")
    elif drop_ok is False:
        cache_text += "; the kernel refused, so there are no cold figures."
    else:
        cache_text += "; none were run (BENCH_S3_COLD_ROUNDS=0)."
    lines.append(cache_text)
    lines.append("- Why the target is judged on curl: it is a thin C client that streams the file with no "
                 "checksum or signing of its own, so its time is smlocal's plus a copy; boto3 and the AWS CLI add "
                 "Python per-chunk work (and, by default, CRC32 and SHA-256 passes over the body) that would be "
                 "charged to the server. boto3 \"lean\" is `Config(request_checksum_calculation=\"when_required\", "
                 "response_checksum_validation=\"when_required\", s3={\"payload_signing_enabled\": False})` "
                 "(botocore otherwise signs the payload over http); its time is the call alone, the client "
                 "already made. The AWS CLI runs with its defaults made explicit in a temp config "
                 "(`multipart_threshold = 8MB`, `multipart_chunksize = 8MB`, `max_concurrent_requests = 10`), "
                 "timed as a whole command, start-up included.")
    lines.append("")

    def table(cache, ways):
        rows = []
        ref = by("cp", cache)
        ref_med = med([mib_s(r) for r in ref]) if ref else None
        rounds = len(ref)
        rows.append("| way | median s | median MiB/s | min–max MiB/s | vs cp | smlocal CPU s | client CPU s |")
        rows.append("|---|---:|---:|---:|---:|---:|---:|")
        for way in ways:
            entries = by(way, cache)
            if not entries:
                continue
            rates = [mib_s(r) for r in entries]
            m = med(rates)
            share = f"{m / ref_med * 100:.0f}%" if ref_med and way != "cp" else ("100%" if way == "cp" else "n/a")
            rows.append(f"| {WAYS[way][0]} | {med([r['seconds'] for r in entries]):.2f} | {m:,.0f} | "
                        f"{min(rates):,.0f}–{max(rates):,.0f} | {share} | "
                        f"{med([r['server_cpu_s'] for r in entries]):.2f} | "
                        f"{med([r.get('client_cpu_s') for r in entries]) or 0:.2f} |")
        return rows, ref_med, rounds

    warm_rows, warm_cp, warm_rounds = table("warm", WARM_ORDER)
    lines.append(f"### Warm page cache: {plural(warm_rounds, 'round')}")
    lines.append("")
    lines += warm_rows
    lines.append("")
    lines.append("CPU columns are medians of user + system time during the command: smlocal's (all its threads, "
                 "from /proc/PID/stat, 10 ms ticks; for cp, dd and md5sum it only shows that the server was idle) "
                 "and the client command's (getrusage of the child, whole process: Python start-up included for "
                 "the Python ways).")
    lines.append("")
    cold_rows, cold_cp, cold_rounds = table("cold", COLD_ORDER)
    if cold_rounds:
        lines.append(f"### Cold page cache: {plural(cold_rounds, 'round')} (drop_caches before each command)")
        lines.append("")
        lines += cold_rows
        lines.append("")

    lines.append("### Targets (issue #5: smlocal's S3 throughput ≥ 50% of cp's)")
    lines.append("")
    lines.append("| measure | figure | target | result |")
    lines.append("|---|---|---|---|")
    for cache, ref_med in (("warm", warm_cp), ("cold", cold_cp)):
        if not ref_med:
            continue
        for way, what in (("curl_put", "PutObject (curl -T)"), ("curl_get", "GetObject (curl -o)")):
            entries = by(way, cache)
            if not entries:
                continue
            m = med([mib_s(r) for r in entries])
            lines.append(f"| {what}, {cache} cache: median throughput / cp's | {m:,.0f} / {ref_med:,.0f} MiB/s = "
                         f"{m / ref_med * 100:.0f}% | ≥ 50% | {verdict(m / ref_med >= 0.5)} |")
    puts = [r for r in runs if "rss_max_kb" in r]
    if puts:
        curl_puts = [r for r in puts if r["way"] == "curl_put"]  # the main server's
        worst = max(puts, key=lambda r: r["rss_max_kb"])
        peak = max(r["rss_max_kb"] for r in curl_puts) / 1024
        lines.append(f"| smlocal VmRSS during a {size_label(size)} curl PUT: max over {len(curl_puts)} uploads (sampled "
                     f"every 5 ms; {setup['rss_before_kb'] / 1024:.1f} MiB before the first) | {peak:.1f} MiB | "
                     f"small, as the body streams to disk: ≤ 64 MiB (ours; the issue gives no figure) | "
                     f"{verdict(peak <= 64)} |")
        lines.append(f"| smlocal VmRSS during any upload: max ({WAYS[worst['way']][0].split(' (')[0]}); after the run | "
                     f"{worst['rss_max_kb'] / 1024:.1f} MiB; {end.get('rss_after_kb', 0) / 1024:.1f} MiB | | |")
    lines.append("")
    perf = {r["way"]: r for r in records if r["type"] == "perf"}
    if perf:
        lines.append("### Where the time goes: smlocal's system calls during one more curl PUT and GET (diagnostic)")
        lines.append("")
        lines.append("`perf stat -e <syscalls:sys_enter_*> -p <smlocal>` around one extra `curl -T` and `curl -o` "
                     "(warm cache, after the rounds; perf's tracing slows them, so only the counts are shown). "
                     f"Counts for the whole {size_label(size)}.")
        lines.append("")
        names = [n for n in ("recvmsg", "sendmsg", "writev", "write", "pread64", "epoll_wait", "epoll_ctl", "futex",
                             "timerfd_settime", "context-switches")
                 if any(p["counts"].get(n) for p in perf.values())]
        lines.append("| request | " + " | ".join(names) + " | bytes per socket read |")
        lines.append("|---|" + "---:|" * len(names) + "---:|")
        for way in ("curl_put", "curl_get"):
            p = perf.get(way)
            if not p:
                continue
            c = p["counts"]
            reads = c.get("recvmsg", 0) + c.get("recvfrom", 0) + c.get("read", 0)
            per_read = f"{p['bytes'] / reads:,.0f}" if way == "curl_put" and reads else "–"
            lines.append(f"| {'PUT' if way == 'curl_put' else 'GET'} | "
                         + " | ".join(f"{int(c.get(n, 0)):,}" for n in names)
                         + f" | {per_read} |")
        lines.append("")
    lines += observations(by, med, perf, size, warm_cp)
    section = "\n".join(lines)
    bench_doc.publish(section, args.write, SECTION_TITLE, "s3.sh")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("measure")
    p.add_argument("url")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--src", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--aws-config", required=True)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--cold-rounds", type=int, default=3)
    p.add_argument("--url1", help="a second smlocal, started with --threads 1 (diagnostic way curl_put_t1)")
    p.add_argument("--pid1", type=int)
    p.add_argument("--perf", action="store_true", help="count the server's system calls around one more PUT and GET")
    p.set_defaults(func=measure)
    p = sub.add_parser("boto3")
    p.add_argument("op", choices=("put", "get"))
    p.add_argument("url")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("file")
    p.add_argument("config", choices=("lean", "default"))
    p.set_defaults(func=boto3_call)
    p = sub.add_parser("http-get")
    p.add_argument("url")
    p.add_argument("file")
    p.set_defaults(func=http_get)
    p = sub.add_parser("render")
    p.add_argument("results")
    p.add_argument("--meta", required=True)
    p.add_argument("--write", metavar="DOC")
    p.set_defaults(func=render)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
