"""``scorestream produce`` across a broker outage: never hang, always account.

The broker is a private one of each test (``private_kafka``), killed with SIGKILL while the
CLI sends a JSON Lines file of the wine data set. Killed for longer than the delivery
timeout, the CLI must exit 1 in bounded time, name the undelivered records and write them to
a file, and every record it did not name must be on the broker. Restarted within the
timeout, the CLI must deliver every record, counted by id on the topic.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import orjson
from sklearn.datasets import load_wine

from scorestream.child_process import spawn_cli
from scorestream.settings import Settings
from scorestream.stack.kafka import KafkaBroker
from tests.kafka_io import collect

RECORDS = 10_000
RATE = 2_000  # records/s: the file takes 5 s, so the outage lands in its middle
SUMMARY = re.compile(r"sent (\d+), failed (\d+), ")


def wine_lines(n: int) -> list[bytes]:
    """``n`` JSON Lines of the wine data set (rows cycled), ids zero-padded strings."""
    rows = load_wine(as_frame=True).frame.to_dict(orient="records")
    return [orjson.dumps({"id": f"{i:06d}", **rows[i % len(rows)]}) for i in range(n)]


def start_produce(
    settings_env: dict[str, str], broker: KafkaBroker, source: Path, *extra: str
) -> subprocess.Popen[str]:
    env = {**settings_env, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{broker.port}"}
    args = ["produce", "--file", str(source), "--rate", str(RATE), "--quiet", *extra]
    return spawn_cli(args, env, capture=True)


def kill_after_first_records(on_broker: Settings, broker: KafkaBroker) -> float:
    """SIGKILL the broker once some records are on it; when it was killed."""
    collect(on_broker, on_broker.topics.records, until=lambda m: len(m) >= 1000)
    running = broker.running()
    assert running is not None
    os.kill(running.pid, signal.SIGKILL)
    return time.monotonic()


def broker_settings(settings: Settings, broker: KafkaBroker) -> Settings:
    return Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{broker.port}",
        SCORESTREAM_TOPIC_PREFIX=settings.topic_prefix,
    )


def test_a_broker_killed_for_longer_than_the_timeout_makes_produce_exit_1_naming_the_rest(
    settings: Settings, settings_env: dict[str, str], private_kafka: KafkaBroker, tmp_path: Path
) -> None:
    timeout_s = 5
    lines = wine_lines(RECORDS)
    source = tmp_path / "wine.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    undelivered_file = tmp_path / "undelivered.jsonl"
    on_broker = broker_settings(settings, private_kafka)
    proc = start_produce(
        settings_env,
        private_kafka,
        source,
        "--delivery-timeout",
        str(timeout_s),
        "--undelivered",
        str(undelivered_file),
    )
    try:
        killed_at = kill_after_first_records(on_broker, private_kafka)
        _, stderr = proc.communicate(timeout=RECORDS / RATE + timeout_s + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("produce hung after the broker was killed") from None
    waited = time.monotonic() - killed_at

    assert proc.returncode == 1, stderr
    match = SUMMARY.search(stderr)
    assert match, stderr
    sent, failed = int(match[1]), int(match[2])
    assert sent + failed == RECORDS
    assert 0 < failed < RECORDS, stderr
    # One summary line names the first undelivered ids and the file that holds them all.
    (summary,) = [line for line in stderr.splitlines() if SUMMARY.search(line)]
    assert f"written to {undelivered_file}" in summary
    written = undelivered_file.read_bytes().splitlines()
    assert len(written) == failed
    # Passed through unchanged: the undelivered file holds the very lines of the source.
    assert set(written) <= set(lines)
    undelivered_ids = {orjson.loads(line)["id"] for line in written}
    assert len(undelivered_ids) == failed
    named = re.search(r"undelivered records ([0-9, ]+?)( and (\d+) more)? written", summary)
    assert named, summary
    # Ids as written ("000123"), and the ones named are undelivered ones.
    assert set(named[1].split(", ")) <= undelivered_ids
    assert int(named[3] or 0) + len(named[1].split(", ")) == failed
    # The client's errors are one line each, never a traceback.
    assert "Traceback" not in stderr
    # Bounded: it stopped soon after the delivery timeout (plus the ledger's grace).
    assert waited < RECORDS / RATE + timeout_s + 30

    private_kafka.start()
    every_id = {orjson.loads(line)["id"] for line in lines}
    delivered = every_id - undelivered_ids
    stored = collect(
        on_broker,
        on_broker.topics.records,
        until=lambda m: delivered <= {r["id"] for r in m},
        timeout_s=60,
    )
    stored_ids = {r["id"] for r in stored}
    # Every record not named undelivered is on the broker: delivered + undelivered == all.
    assert delivered <= stored_ids
    assert len(delivered) == sent
    assert stored_ids | undelivered_ids == every_id


def test_a_broker_back_within_the_timeout_gets_every_record(
    settings: Settings, settings_env: dict[str, str], private_kafka: KafkaBroker, tmp_path: Path
) -> None:
    lines = wine_lines(RECORDS)
    source = tmp_path / "wine.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    on_broker = broker_settings(settings, private_kafka)
    proc = start_produce(settings_env, private_kafka, source, "--delivery-timeout", "90")
    try:
        kill_after_first_records(on_broker, private_kafka)
        time.sleep(3)
        # Back after about 15-30 s (a killed KRaft broker waits for its old registration to
        # expire), well within the 90 s delivery timeout.
        private_kafka.start()
        _, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("produce hung after the broker came back") from None

    assert proc.returncode == 0, stderr
    assert f"sent {RECORDS}, failed 0, " in stderr
    stored = collect(
        on_broker, on_broker.topics.records, until=lambda m: len(m) >= RECORDS, timeout_s=60
    )
    stored_ids = [r["id"] for r in stored]
    # Every id once (the idempotent producer's retries wrote no duplicate), none missing.
    assert sorted(stored_ids) == sorted(orjson.loads(line)["id"] for line in lines)
