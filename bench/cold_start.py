#!/usr/bin/env python3
"""Cold-start bench for the Lambda binaries: process spawn -> first poll of the Runtime API.

Serves the Lambda Runtime API on 127.0.0.1 (a free port), starts each binary with the usual
Lambda environment pointing at it and no network endpoint anywhere, and times how long the
process takes to send its first `GET /2018-06-01/runtime/invocation/next`. That is our own
init: everything `main` does before it asks for work. At that moment /proc gives the CPU time
the process has used (the sum of its threads' schedstat run time: a figure that, unlike the
wall clock, hardly moves when the machine is busy), its peak RSS (VmHWM), and its open sockets:
anything but the stub is a finding. Each run gets a fresh stub on a fresh port, and binaries
are run round-robin so that background load affects them alike (compare profile variants by
passing several builds of the same binary).

With `--invoke`, the first poll is answered with a harmless event (an S3 `s3:TestEvent` for
`ingest`, a one-record Kinesis batch of junk for `alerter`) and the time to its
`/response` is reported too, which shows what lazy initialisation costs the first event.

    python3 bench/cold_start.py target/release/ingest target/release/alerter
    python3 bench/cold_start.py --runs 50 --invoke target/release/alerter
    python3 bench/cold_start.py --trace-connect target/release/ingest   # needs strace
    python3 bench/cold_start.py /tmp/thin/ingest /tmp/fat/ingest            # compare two builds

Python 3.11, stdlib only. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

NEXT = "/2018-06-01/runtime/invocation/next"
INVOCATION = "/2018-06-01/runtime/invocation/"
INIT_ERROR = "/2018-06-01/runtime/init/error"

S3_TEST_EVENT = {
    "Service": "Amazon S3",
    "Event": "s3:TestEvent",
    "Time": "2025-06-21T22:25:03.512Z",
    "Bucket": "alb-logs-123456789012",
    "RequestId": "5582815E1AEA5ADF",
    "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
}


def kinesis_event(data: bytes) -> dict:
    seq = "49568167373333333333333333333333333333333333333333333333"
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "10.0.1.10:8080",
                    "sequenceNumber": seq,
                    "data": base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": 1750545000.123,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{seq}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/albwatch-alerter",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/test",
            }
        ]
    }


def event_for(binary: Path) -> dict:
    """A harmless first event: nothing in it needs the network."""
    if "alerter" in binary.name:
        return kinesis_event(b"not a record")
    return S3_TEST_EVENT


@dataclass
class Run:
    """What one process did; filled in by the server threads."""

    pid: int = 0
    t0: float = 0.0
    first_poll: float | None = None
    response: float | None = None
    response_body: bytes = b""
    errors: list[str] = field(default_factory=list)
    hwm_kb: int | None = None
    rss_kb: int | None = None
    threads: int | None = None
    cpu_ns: int | None = None
    response_cpu_ns: int | None = None
    foreign_sockets: list[str] = field(default_factory=list)
    event: bytes | None = None
    polled: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


class RuntimeApi(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.run: Run | None = None
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # the process was killed
            super().handle_error(request, client_address)


@contextmanager
def runtime_api(run: Run) -> Iterator[RuntimeApi]:
    """A Runtime API stub serving `run` only, on a fresh port: a request a killed process left
    behind can never be taken for the next process's poll."""
    server = RuntimeApi()
    server.run = run
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        run.done.set()
        server.shutdown()
        server.server_close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RuntimeApi

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass

    def do_GET(self) -> None:
        now = time.perf_counter()
        run = self.server.run
        if run is None or self.path != NEXT:
            self.reply(404, b"{}")
            return
        with self.server.lock:
            first = run.first_poll is None
            if first:
                run.first_poll = now
        if first:
            # The process waits for this answer, so its peak RSS and sockets are stable now.
            snapshot(run, self.server.port)
            run.polled.set()
        if first and run.event is not None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Lambda-Runtime-Aws-Request-Id", str(uuid.uuid4()))
            deadline_ms = int(time.time() * 1000) + 60_000
            self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline_ms))
            self.send_header(
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:albwatch-bench",
            )
            self.send_header("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")
            self.send_header("Content-Length", str(len(run.event)))
            self.end_headers()
            self.wfile.write(run.event)
            return
        # Hold the poll open (as Lambda does between events) until the run is over.
        run.done.wait(timeout=60)
        self.close_connection = True

    def do_POST(self) -> None:
        now = time.perf_counter()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        run = self.server.run
        if run is not None:
            if self.path.startswith(INVOCATION) and self.path.endswith("/response"):
                run.response, run.response_body = now, body
                run.response_cpu_ns = cpu_time_ns(run.pid)
            elif self.path.endswith("/error") or self.path == INIT_ERROR:
                run.errors.append(f"{self.path}: {body[:500].decode(errors='replace')}")
        self.reply(202, b'{"status":"OK"}')

    def reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def snapshot(run: Run, stub_port: int) -> None:
    """Peak RSS, thread count and non-stub sockets of the process, from /proc."""
    try:
        status = Path(f"/proc/{run.pid}/status").read_text()
    except OSError:
        return
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key == "VmHWM":
            run.hwm_kb = int(value.split()[0])
        elif key == "VmRSS":
            run.rss_kb = int(value.split()[0])
        elif key == "Threads":
            run.threads = int(value)
    run.cpu_ns = cpu_time_ns(run.pid)
    run.foreign_sockets = foreign_sockets(run.pid, stub_port)


def cpu_time_ns(pid: int) -> int | None:
    """CPU time the process's live threads have used so far (schedstat), which, unlike the
    wall-clock figure, hardly depends on what else the machine is running."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total


def foreign_sockets(pid: int, stub_port: int) -> list[str]:
    """The process's TCP/UDP sockets connected anywhere but the stub (listeners excluded)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            m = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}") or "")
            if m:
                inodes.add(m.group(1))
    except OSError:
        return []
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            rows = Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[9] not in inodes:
                continue
            remote_ip, remote_port = decode_addr(cols[2])
            if remote_port == 0 or (remote_port == stub_port and remote_ip in ("127.0.0.1", "::ffff:127.0.0.1")):
                continue
            found.append(f"{proto} {remote_ip}:{remote_port}")
    return found


def decode_addr(hexaddr: str) -> tuple[str, int]:
    ip_hex, port_hex = hexaddr.split(":")
    raw = bytes.fromhex(ip_hex)
    if len(raw) == 4:
        ip = ".".join(str(b) for b in raw[::-1])
    else:
        words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
        ip = bytes(b"".join(words)).hex(":", 2)
        if ip.startswith("0000:0000:0000:0000:0000:ffff:"):
            ip = "::ffff:" + ".".join(str(b) for b in b"".join(words)[12:])
    return ip, int(port_hex, 16)


def lambda_env(port: int, binary: Path, scratch: Path) -> dict[str, str]:
    """What Lambda sets for a `provided.al2023` function, pointing at the stub; nothing else
    (the bench's own environment is not inherited, so no endpoint or profile leaks in)."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": f"albwatch-{binary.name}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/albwatch-{binary.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2025/06/21/[$LATEST]0123456789abcdef",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "AWS_SESSION_TOKEN": "test-session-token",
        # An empty home: no ~/.aws of the machine running the bench (Lambda has none either).
        "HOME": str(scratch),
        "_HANDLER": "bootstrap",
        "LAMBDA_TASK_ROOT": str(binary.parent),
        "ALBWATCH_STREAM_NAME": "test",
    }


def run_once(
    binary: Path, invoke: bool, timeout: float, scratch: Path, extra_env: dict[str, str]
) -> tuple[Run, str]:
    run = Run(event=json.dumps(event_for(binary)).encode() if invoke else None)
    log_path = scratch / "stderr.log"
    with runtime_api(run) as server, log_path.open("wb") as log:
        env = lambda_env(server.port, binary, scratch) | extra_env
        run.t0 = time.perf_counter()
        proc = subprocess.Popen([str(binary)], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        run.pid = proc.pid
        end = run.t0 + timeout
        try:
            while time.perf_counter() < end and proc.poll() is None:
                if run.polled.is_set() and (not invoke or run.response is not None or run.errors):
                    break
                time.sleep(0.001)
        finally:
            proc.kill()
            proc.wait()
    return run, log_path.read_text(errors="replace")


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def summarize(values: list[float]) -> str:
    s = sorted(values)
    return f"{s[0]:7.2f} {statistics.median(s):7.2f} {percentile(s, 0.9):7.2f}"


def trace_connect(binary: Path, scratch: Path, extra_env: dict[str, str]) -> None:
    """One run under strace: every connect()/sendto() with an address that is not the stub."""
    strace = shutil.which("strace")
    if strace is None:
        print("  --trace-connect: strace not found, skipped")
        return
    out = scratch / "strace.txt"
    run = Run()
    with runtime_api(run) as server:
        proc = subprocess.Popen(
            [strace, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(out), str(binary)],
            env=lambda_env(server.port, binary, scratch) | extra_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        run.pid = proc.pid
        run.polled.wait(timeout=30)
        time.sleep(0.2)
        proc.kill()
        proc.wait()
    stub = f"sin_port=htons({server.port})"
    lines = out.read_text(errors="replace").splitlines()
    if not any(stub in line for line in lines):
        print("  strace: did not see the connection to the stub; check strace works here")
        return
    hits = [
        line.strip()
        for line in lines
        if ("sin_addr" in line or "sin6_addr" in line or "sun_path" in line) and stub not in line
    ]
    if hits:
        print("  FINDING: connections other than the stub before the first poll:")
        for line in hits:
            print("    " + line)
    else:
        print("  strace: no connect()/sendto() to anything but the stub before the first poll")


@dataclass
class Stats:
    """Timed runs of one binary."""

    binary: Path
    label: str
    init_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    first_event_ms: list[float] = field(default_factory=list)
    first_event_cpu_ms: list[float] = field(default_factory=list)
    hwm_mib: list[float] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)
    foreign: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def add(self, run: Run, log: str, i: int, args: argparse.Namespace) -> None:
        if run.first_poll is None or (args.invoke and run.response is None):
            what = "no first poll" if run.first_poll is None else "no /response"
            self.problems.append(f"run {i}: {what} within {args.timeout}s; {run.errors}\n{log[-2000:]}")
            return
        if run.errors:
            self.problems.append(f"run {i}: {run.errors}")
        if args.invoke and "alerter" in self.binary.name and b"batchItemFailures" not in run.response_body:
            self.problems.append(f"run {i}: unexpected response {run.response_body[:200]!r}")
        self.foreign.update(run.foreign_sockets)
        if i < args.warmup:
            return
        self.init_ms.append((run.first_poll - run.t0) * 1000)
        if run.cpu_ns is not None:
            self.cpu_ms.append(run.cpu_ns / 1e6)
        if run.response is not None:
            self.first_event_ms.append((run.response - run.t0) * 1000)
        if run.response_cpu_ns is not None:
            self.first_event_cpu_ms.append(run.response_cpu_ns / 1e6)
        if run.hwm_kb is not None:
            self.hwm_mib.append(run.hwm_kb / 1024)
        if run.threads is not None:
            self.threads.append(run.threads)

    def report(self, as_json: bool, width: int) -> None:
        if self.init_ms:
            rss = f"{statistics.median(self.hwm_mib):.1f}" if self.hwm_mib else "?"
            cpu = f"{statistics.median(self.cpu_ms):.2f}" if self.cpu_ms else "?"
            size = self.binary.stat().st_size / 2**20
            print(
                f"{self.label:<{width}} {len(self.init_ms):>4}  {summarize(self.init_ms)}  {cpu:>8}"
                f"  {rss:>8}  {size:>8.1f}"
            )
            if self.first_event_ms:
                cpu = f"{statistics.median(self.first_event_cpu_ms):.2f}" if self.first_event_cpu_ms else "?"
                print(f"{'  first /response':<{width}} {'':>4}  {summarize(self.first_event_ms)}  {cpu:>8}")
            if as_json:
                init = sorted(self.init_ms)
                print(json.dumps({
                    "binary": str(self.binary),
                    "runs": len(init),
                    "init_ms": {"min": init[0], "median": statistics.median(init), "p90": percentile(init, 0.9)},
                    "cpu_ms_median": statistics.median(self.cpu_ms) if self.cpu_ms else None,
                    "first_response_ms_median": statistics.median(self.first_event_ms) if self.first_event_ms else None,
                    "first_response_cpu_ms_median": (
                        statistics.median(self.first_event_cpu_ms) if self.first_event_cpu_ms else None
                    ),
                    "vmhwm_mib": statistics.median(self.hwm_mib) if self.hwm_mib else None,
                    "size_bytes": self.binary.stat().st_size,
                }))
        for sock in sorted(self.foreign):
            print(f"  FINDING: {self.label} had a socket open to {sock} at its first poll")
        for problem in self.problems:
            print(f"  FAILED: {self.label} {problem}", file=sys.stderr)


def labels(binaries: list[Path]) -> list[str]:
    """File names, with the parent directory when two binaries share a name."""
    names = [b.name for b in binaries]
    return [f"{b.parent.name}/{b.name}" if names.count(b.name) > 1 else b.name for b in binaries]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+", type=Path, help="Lambda binaries (e.g. target/release/ingest)")
    parser.add_argument("--runs", "-n", type=int, default=30, help="timed runs per binary (default 30)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (page cache; default 1)")
    parser.add_argument("--invoke", action="store_true", help="answer the first poll with an event, time /response")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a run counts as failed")
    parser.add_argument("--trace-connect", action="store_true", help="one extra run under strace, list connects")
    parser.add_argument("--json", action="store_true", help="also print one JSON summary line per binary")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra variable (repeatable)")
    args = parser.parse_args()
    extra_env = dict(item.split("=", 1) for item in args.env)

    for binary in args.binaries:
        if not os.access(binary, os.X_OK) or not binary.is_file():
            print(f"{binary}: not an executable file", file=sys.stderr)
            return 2
    binaries = [b.resolve() for b in args.binaries]
    stats = [Stats(b, label) for b, label in zip(binaries, labels(args.binaries))]
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        scratch = Path(tmp)
        # Round-robin, so a machine busy with other work slows every binary alike.
        for i in range(args.warmup + args.runs):
            for st in stats:
                if st.problems and not st.init_ms and i > 0:
                    continue
                run, log = run_once(st.binary, args.invoke, args.timeout, scratch, extra_env)
                st.add(run, log, i, args)
        width = max(16, *(len(st.label) for st in stats))
        print(f"{'':<{width}} {'':>4}  {'spawn -> first poll, ms':^23}  {'CPU ms':>8}  {'VmHWM':>8}  {'size':>8}")
        print(f"{'binary':<{width}} {'runs':>4}  {'min':>7} {'median':>7} {'p90':>7}  {'(median)':>8}  {'MiB':>8}  {'MiB':>8}")
        for st in stats:
            st.report(args.json, width)
        if args.trace_connect:
            for st in stats:
                print(f"{st.label}:")
                trace_connect(st.binary, scratch, extra_env)
    return 1 if any(st.problems for st in stats) else 0


if __name__ == "__main__":
    sys.exit(main())
