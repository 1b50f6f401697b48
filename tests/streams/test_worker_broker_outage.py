"""A broker outage of ~20 s under a running worker and sink: a bounded log, nothing lost.

The worker and the sink talk to a broker of this test alone (``private_kafka``), which is
stopped for 20 s while both run. Before the repeat filter (``scorestream.log_limit``) a 52-s
outage wrote about 5,000 ERROR lines to each log; now each distinct warning or error is
written at most once per interval, plus once more with the count of its dropped repeats.
Every record produced before and after the outage ends up in ClickHouse, once.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from scorestream.log_limit import REPEAT_INTERVAL_S
from scorestream.settings import Settings
from scorestream.stack.kafka import KafkaBroker
from scorestream.streams.synthetic import generate_records
from scorestream.topics import ensure_topics
from tests.consumers.clickhouse_sink_support import sink_process
from tests.fixtures.worker import WorkerFactory
from tests.kafka_io import produce_raw

pytestmark = pytest.mark.timeout(300)

OUTAGE_S = 20.0
PER_PHASE = 2_000

_LINE = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) (\S+): (.*)$")


def _records(seed: int, start: str) -> list[dict[str, Any]]:
    return [
        record
        for chunk in generate_records(PER_PHASE, seed, 1000, start=start, include_target=False)
        for record in chunk
    ]


def _stored(ch_client: Any, database: str) -> int:
    try:
        return int(ch_client.execute(f"SELECT count() FROM {database}.scores FINAL")[0][0])
    except Exception:  # the sink has not created the table yet
        return 0


def _wait_stored(ch_client: Any, database: str, n: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _stored(ch_client, database) < n:
        time.sleep(0.5)
    assert _stored(ch_client, database) == n


def _bad_lines(text: str) -> Counter[tuple[str, str, str]]:
    """Warning and error lines by (level, logger, message with numbers as #)."""
    found: Counter[tuple[str, str, str]] = Counter()
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            level, logger, message = match.groups()
            message = re.sub(r" \(and \d+ more like this in the last \d+ s\)$", "", message)
            found[level, logger, re.sub(r"\d+", "#", message)] += 1
    return found


def test_a_20_s_broker_outage_logs_each_error_once_per_interval_and_loses_nothing(
    settings: Settings,
    settings_env: dict[str, str],
    private_kafka: KafkaBroker,
    start_worker: WorkerFactory,
    ch_client: Any,
    tmp_path: Path,
) -> None:
    bootstrap = f"127.0.0.1:{private_kafka.port}"
    private = settings.model_copy(update={"kafka_bootstrap_servers": bootstrap})
    env = {**settings_env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    ensure_topics(private)
    database = settings.clickhouse.database
    before = _records(11, "2026-04-01T00:00:00")
    after = _records(12, "2026-04-02T00:00:00")

    started = time.monotonic()
    worker = start_worker(env=env)
    sink_log = tmp_path / "sink.log"
    sink: subprocess.Popen[bytes] = sink_process(env, sink_log, "--flush-interval", "0.5")
    try:
        produce_raw(private, [(r["id"].encode(), orjson.dumps(r)) for r in before])
        _wait_stored(ch_client, database, PER_PHASE, 120)

        private_kafka.stop()
        time.sleep(OUTAGE_S)
        assert worker.poll() is None and sink.poll() is None, "a process died in the outage"
        private_kafka.start()

        produce_raw(private, [(r["id"].encode(), orjson.dumps(r)) for r in after])
        _wait_stored(ch_client, database, 2 * PER_PHASE, 120)
        assert worker.poll() is None and sink.poll() is None
    finally:
        if sink.poll() is None:
            sink.terminate()
            sink.wait(30)
    span = time.monotonic() - started
    ids = {row[0] for row in ch_client.execute(f"SELECT id FROM {database}.scores FINAL")}
    assert ids == {r["id"] for r in before + after}

    # At most one line per interval of the run for each distinct message, plus the first.
    bound = int(span / REPEAT_INTERVAL_S) + 1
    for name, path in (("worker", tmp_path / "worker-0.log"), ("sink", sink_log)):
        lines = _bad_lines(path.read_text(errors="replace"))
        errors = sum(n for (level, _, _), n in lines.items() if level != "WARNING")
        print(
            f"{name}: {errors} ERROR lines, {sum(lines.values())} warnings and errors "
            f"({len(lines)} distinct) in {span:.0f} s"
        )
        assert lines, f"the {name} logged nothing about the outage"
        too_many = {key: n for key, n in lines.items() if n > bound}
        assert not too_many, f"{name}: more than {bound} lines of one message: {too_many}"
