"""Requests/s and latency of the HTTP ingest bridge on loopback, against the local broker.

Three runs against one ``scorestream bridge`` process (uvloop and httptools when
installed):

1. ``POST /v1/records`` with one record per request, closed loop (as fast as it answers);
2. ``POST /v1/records`` with 100 records per request, closed loop;
3. ``POST /v1/score`` at a fixed 200 requests/s (open loop: latency counts from when each
   request was *due*, so a stall is not hidden), with a worker scoring the records.

The closed-loop runs use wrk (``apt-get install wrk``) when it is on PATH, since a C load
generator leaves the CPU to the bridge; otherwise an aiohttp client. Records carry no id,
so the bridge assigns one to each, as for real clients.

    python -m bench.bench_bridge [--seconds 15] [--connections 64] [--batch-connections 16]
                                 [--score-rate 200]

More connections mean more concurrent requests, which the bridge validates and produces
together, so single-record throughput grows with them (about 2,600 requests/s at 32
connections and 3,300 at 64 on a 2-CPU machine): pick the figure for your client count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import bench_settings, env_for, percentile, print_table, trained_model
from scorestream.child_process import spawn_cli, terminate
from scorestream.settings import Settings
from scorestream.streams.synthetic import generate_records

API_KEY = "bench-key"
BODY_VARIANTS = 20


@dataclass
class RunResult:
    """One load run: what was asked and what came back."""

    name: str
    requests: int
    records_per_request: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int
    generator: str

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def row(self) -> list[object]:
        return [
            self.name,
            self.generator,
            f"{self.rate:,.0f}",
            f"{self.rate * self.records_per_request:,.0f}",
            f"{self.p50_ms:.1f}",
            f"{self.p99_ms:.1f}",
            self.failed,
        ]


def bodies(records_per_request: int, variants: int = BODY_VARIANTS) -> list[bytes]:
    """Request bodies of synthetic loan applications, without ids."""
    n = records_per_request * variants
    records = [
        record
        for chunk in generate_records(n, 5, 5000, start="2026-06-01T00:00:00", include_target=False)
        for record in chunk
    ]
    for record in records:
        del record["id"], record["event_time"]
    if records_per_request == 1:
        return [orjson.dumps(record) for record in records]
    return [
        orjson.dumps(records[i : i + records_per_request]) for i in range(0, n, records_per_request)
    ]


# --- closed loop: wrk ------------------------------------------------------------------

_WRK_SCRIPT = """
local bodies = {%s}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "%s"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, '
    .. '"failed": %%d}\\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def run_wrk(
    url: str, payloads: list[bytes], seconds: float, connections: int, workdir: Path
) -> dict[str, Any]:
    quoted = ", ".join("[==[" + body.decode() + "]==]" for body in payloads)
    script = workdir / "bridge.lua"
    script.write_text(_WRK_SCRIPT % (quoted, API_KEY))
    result = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("RESULT "))
    return dict(json.loads(line[len("RESULT ") :]))


def closed_loop_wrk(
    name: str,
    url: str,
    payloads: list[bytes],
    per_request: int,
    seconds: float,
    connections: int,
    workdir: Path,
) -> RunResult:
    run_wrk(url, payloads, 2, connections, workdir)  # warm-up
    stats = run_wrk(url, payloads, seconds, connections, workdir)
    return RunResult(
        name,
        stats["requests"],
        per_request,
        stats["duration_us"] / 1e6,
        stats["p50_us"] / 1000,
        stats["p99_us"] / 1000,
        stats["failed"],
        "wrk",
    )


# --- closed loop: Python -----------------------------------------------------------------


async def _closed_loop_python(
    url: str, payloads: list[bytes], seconds: float, connections: int
) -> tuple[list[float], int, float]:
    import aiohttp

    latencies: list[float] = []
    failed = 0
    headers = {"Content-Type": "application/json", "X-API-Key": API_KEY}
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        started = time.perf_counter()
        deadline = started + seconds

        async def client(offset: int) -> None:
            nonlocal failed
            i = offset
            while time.perf_counter() < deadline:
                body = payloads[i % len(payloads)]
                i += 1
                sent = time.perf_counter()
                async with session.post(url, data=body) as response:
                    await response.read()
                    if response.status >= 300:
                        failed += 1
                latencies.append(time.perf_counter() - sent)

        await asyncio.gather(*(client(k) for k in range(connections)))
        return latencies, failed, time.perf_counter() - started


def closed_loop_python(
    name: str, url: str, payloads: list[bytes], per_request: int, seconds: float, connections: int
) -> RunResult:
    asyncio.run(_closed_loop_python(url, payloads, 2, connections))  # warm-up
    latencies, failed, elapsed = asyncio.run(
        _closed_loop_python(url, payloads, seconds, connections)
    )
    return RunResult(
        name,
        len(latencies),
        per_request,
        elapsed,
        percentile(latencies, 50) * 1000,
        percentile(latencies, 99) * 1000,
        failed,
        "aiohttp",
    )


# --- open loop: /v1/score at a fixed rate ------------------------------------------------


async def _open_loop(
    url: str, payloads: list[bytes], rate: float, seconds: float
) -> tuple[list[float], int, int]:
    import aiohttp

    latencies: list[float] = []
    failed = 0
    headers = {"Content-Type": "application/json", "X-API-Key": API_KEY}
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=timeout
    ) as session:

        async def one(due: float, body: bytes) -> None:
            nonlocal failed
            try:
                async with session.post(url, data=body) as response:
                    await response.read()
                    ok = response.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if not ok:
                failed += 1
            latencies.append(time.perf_counter() - due)

        start = time.perf_counter() + 0.1
        total = int(rate * seconds)
        tasks = []
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due, payloads[i % len(payloads)])))
        await asyncio.gather(*tasks)
    return latencies, failed, total


def open_loop_score(url: str, rate: float, seconds: float) -> RunResult:
    payloads = bodies(1, variants=50)
    asyncio.run(_open_loop(url, payloads, rate, 2))  # warm-up
    latencies, failed, total = asyncio.run(_open_loop(url, payloads, rate, seconds))
    return RunResult(
        f"POST /v1/score at {rate:g}/s",
        total,
        1,
        seconds,
        percentile(latencies, 50) * 1000,
        percentile(latencies, 99) * 1000,
        failed,
        "aiohttp, open loop",
    )


# --- processes ---------------------------------------------------------------------------


def _spawn(args: list[str], settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    return spawn_cli(args, {**env_for(settings), "INGEST_API_KEYS": API_KEY}, log)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the bridge exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    sys.exit(f"the bridge never became ready:\n{log.read_text()[-3000:]}")


def _wait_scored(url: str, timeout_s: float = 120) -> None:
    """Block until the worker scores a record (Faust start-up takes a while)."""
    body = bodies(1, variants=1)[0]
    headers = {"Content-Type": "application/json", "X-API-Key": API_KEY}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = httpx.post(url + "/v1/score", content=body, headers=headers, timeout=40)
        if response.status_code == 200:
            return
        time.sleep(1)
    sys.exit("the worker never scored a record")


def _delete_topics(*runs: Settings) -> None:
    """Remove this run's topics from the shared broker."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=runs[0].kafka_bootstrap_servers)
    try:
        prefixes = tuple(run.topic_prefix for run in runs)
        ours = [topic for topic in admin.list_topics() if topic.startswith(prefixes)]
        if ours:
            admin.delete_topics(ours)
    finally:
        admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15, help="length of each run")
    parser.add_argument(
        "--connections", type=int, default=64, help="connections of the batch-of-1 run"
    )
    parser.add_argument(
        "--batch-connections", type=int, default=16, help="connections of the batch-of-100 run"
    )
    parser.add_argument("--score-rate", type=float, default=200, help="/v1/score requests/s")
    parser.add_argument("--port", type=int, default=18_480)
    parser.add_argument(
        "--python-client",
        action="store_true",
        help="use the aiohttp client even when wrk is installed",
    )
    args = parser.parse_args(argv)

    settings = bench_settings("bridge")
    model_dir = trained_model()
    workdir = Path(tempfile.mkdtemp(prefix="scorestream-bench-bridge-"))
    url = f"http://127.0.0.1:{args.port}"
    bridge_log, worker_log = workdir / "bridge.log", workdir / "worker.log"
    bridge = _spawn(
        [
            "bridge",
            "--port",
            str(args.port),
            "--model-dir",
            str(model_dir),
            "--score-timeout",
            "30",
        ],
        settings,
        bridge_log,
    )
    worker: subprocess.Popen[bytes] | None = None
    score_settings = settings
    use_wrk = shutil.which("wrk") is not None and not args.python_client
    results: list[RunResult] = []
    try:
        _wait_ready(url, bridge, bridge_log)
        for per_request, connections in ((1, args.connections), (100, args.batch_connections)):
            payloads = bodies(per_request)
            name = f"POST /v1/records, {per_request} per request"
            if use_wrk:
                result = closed_loop_wrk(
                    name,
                    url + "/v1/records",
                    payloads,
                    per_request,
                    args.seconds,
                    connections,
                    workdir,
                )
            else:
                result = closed_loop_python(
                    name, url + "/v1/records", payloads, per_request, args.seconds, connections
                )
            results.append(result)
            print(result.row(), flush=True)
        # The worker starts on a topic holding the ingest runs' records; scoring those
        # first would load the score run, so it starts from a fresh prefix.
        score_settings = bench_settings("bridge-score")
        terminate(bridge)
        bridge = _spawn(
            [
                "bridge",
                "--port",
                str(args.port),
                "--model-dir",
                str(model_dir),
                "--score-timeout",
                "30",
            ],
            score_settings,
            bridge_log,
        )
        _wait_ready(url, bridge, bridge_log)
        worker = _spawn(
            [
                "worker",
                "--model-dir",
                str(model_dir),
                "--engine",
                "agent",
                "--batch-within",
                "0.01",
            ],
            score_settings,
            worker_log,
        )
        _wait_scored(url)
        result = open_loop_score(url + "/v1/score", args.score_rate, args.seconds)
        results.append(result)
        print(result.row(), flush=True)
    finally:
        for proc in (worker, bridge):
            if proc is not None:
                terminate(proc)
        _delete_topics(settings, score_settings)
    print_table(
        f"HTTP ingest bridge on loopback ({os.cpu_count()} CPUs, "
        f"{args.seconds:g} s per run, {args.connections} connections for batches of 1, "
        f"{args.batch_connections} for batches of 100)",
        ["run", "load generator", "requests/s", "records/s", "p50 ms", "p99 ms", "failed"],
        [result.row() for result in results],
    )
    print(f"\nlogs: {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
