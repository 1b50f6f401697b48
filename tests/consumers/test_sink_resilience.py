"""The sink as a real process: SIGKILLed mid-run three times, and a ClickHouse outage of 30 s.

Both must end with exactly the produced records in ``scores FINAL``, none missing.
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from clickhouse_sink_support import produce, safe, score_messages, sink_process, wait_for

from scorestream.child_process import run_cli
from scorestream.consumers.clickhouse import make_client
from scorestream.consumers.queries import count_scores, score_ids
from scorestream.settings import ClickHouseDsn, Settings
from scorestream.stack.clickhouse import ClickHouseServer
from scorestream.topics import ensure_topics

pytestmark = pytest.mark.timeout(240)


def _expected_ids(n: int) -> list[str]:
    return sorted(f"rec-{i:07d}" for i in range(n))


def _stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


def _alive(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is None


def test_sigkill_three_times_loses_nothing_and_shows_nothing_twice(
    settings: Settings, settings_env: dict[str, str], ch_client: Any, tmp_path: Path
) -> None:
    total = 100_000
    ensure_topics(settings)
    db = settings.clickhouse.database
    log = tmp_path / "sink.log"
    # Static membership: a restarted sink takes its partitions back without waiting for
    # the killed member's session to time out.
    args = ("--instance-id", "sink-kill-test", "--flush-interval", "0.5")
    # Slow enough that the three kill-and-restart cycles happen while records still arrive.
    producer = threading.Thread(
        target=produce,
        args=(settings, settings.topics.scores, score_messages(0, total)),
        kwargs={"rate": 8_000},
    )
    rng = random.Random()
    kills: list[str] = []
    producer.start()
    process = sink_process(settings_env, log, *args)
    try:
        for _ in range(3):
            # Kill a sink that is working, not one still starting: after its first flush,
            # at a random point of its next batch (fetching, decoding, inserting, committing).
            seen = log.stat().st_size if log.exists() else 0

            def flushed(seen: int = seen) -> bool:
                return b" flush " in log.read_bytes()[seen:]

            wait_for(flushed, timeout=60, what="a flush of the restarted sink")
            time.sleep(rng.uniform(0.0, 0.6))
            assert _alive(process), log.read_text()[-3000:]
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            kills.append(f"{safe(lambda: count_scores(ch_client, db), 0)} rows")
            process = sink_process(settings_env, log, *args)
        producer.join(timeout=60)
        assert not producer.is_alive()
        wait_for(
            lambda: safe(lambda: count_scores(ch_client, db), 0) >= total,
            timeout=90,
            what=f"{total} rows in scores FINAL",
        )
        assert _alive(process), log.read_text()[-3000:]
    finally:
        if _alive(process):
            assert _stop(process) == 0, log.read_text()[-3000:]
    assert count_scores(ch_client, db) == total
    assert score_ids(ch_client, db) == _expected_ids(total)
    stored = ch_client.execute(f"SELECT count() FROM {db}.scores")[0][0]
    print(f"killed at {', '.join(kills)} stored; finally {stored} rows stored, {total} shown")


def test_clickhouse_down_for_30_s_mid_run(
    settings: Settings,
    settings_env: dict[str, str],
    private_clickhouse: ClickHouseServer,
    tmp_path: Path,
) -> None:
    ensure_topics(settings)
    db = settings.clickhouse.database
    url = f"clickhouse://default:@127.0.0.1:{private_clickhouse.port}/{db}"
    env = {**settings_env, "CLICKHOUSE_URL": url}
    client = make_client(ClickHouseDsn.parse(url))
    log = tmp_path / "sink.log"
    process = sink_process(env, log, "--flush-interval", "0.5", "--max-backoff", "4")
    try:
        produce(settings, settings.topics.scores, score_messages(0, 10_000))
        wait_for(
            lambda: safe(lambda: count_scores(client, db), 0) == 10_000,
            timeout=60,
            what="the first 10,000 rows",
        )
        client.disconnect()

        private_clickhouse.stop()
        down_at = time.monotonic()
        # Records keep coming while ClickHouse is away; the sink must wait, not drop them.
        produce(settings, settings.topics.scores, score_messages(10_000, 30_000))
        while time.monotonic() - down_at < 30:
            assert _alive(process), log.read_text()[-3000:]
            time.sleep(1)
        private_clickhouse.start()

        wait_for(
            lambda: safe(lambda: count_scores(client, db), 0) == 30_000,
            timeout=60,
            what="all 30,000 rows after the outage",
        )
        assert _alive(process), log.read_text()[-3000:]
    finally:
        if _alive(process):
            assert _stop(process) == 0, log.read_text()[-3000:]
    assert count_scores(client, db) == 30_000
    assert score_ids(client, db) == _expected_ids(30_000)
    text = log.read_text()
    assert "ClickHouse cannot take inserts" in text  # it noticed, and backed off
    assert "consumer paused" in text and "consumer resumed" in text
    assert "Traceback" not in text
    client.disconnect()


def test_sigterm_flushes_and_commits(
    settings: Settings, settings_env: dict[str, str], ch_client: Any, tmp_path: Path
) -> None:
    """A clean stop stores what was buffered and commits it: a restart reads nothing again."""
    ensure_topics(settings)
    log = tmp_path / "sink.log"
    # A flush interval longer than the test: only the SIGTERM path can store the rows.
    process = sink_process(settings_env, log, "--flush-interval", "600")
    try:
        produce(settings, settings.topics.scores, score_messages(0, 500))
        wait_for(lambda: "assigned" in log.read_text(), timeout=30, what="assignment")
        time.sleep(2)  # let the sink fetch the records into its buffer
    finally:
        assert _stop(process) == 0, log.read_text()[-3000:]
    db = settings.clickhouse.database
    assert count_scores(ch_client, db) == 500
    again = run_cli(["sink", "--once"], settings_env, timeout_s=120)
    assert again.returncode == 0
    assert " flush " not in again.stderr  # nothing left to store: the offsets were committed
    assert ch_client.execute(f"SELECT count() FROM {db}.scores")[0][0] == 500
