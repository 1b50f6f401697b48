"""The local stack is real: clients of every kind talk to it, and its lifecycle holds."""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import subprocess
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest

from scorestream.child_process import run_cli
from scorestream.settings import Settings
from scorestream.stack import LocalStack, StackConfig
from scorestream.stack.process import port_open


def test_kafka_round_trip_with_kafka_python(settings: Settings) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    topic = settings.topics.records
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    sent = [f"kp-{i}".encode() for i in range(20)]
    for value in sent:
        producer.send(topic, value=value, key=value)
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"g-{uuid.uuid4().hex}",
        consumer_timeout_ms=10_000,
    )
    received = []
    for message in consumer:
        received.append(message.value)
        if len(received) == len(sent):
            break
    consumer.close()
    assert sorted(received) == sorted(sent)


def test_kafka_round_trip_with_aiokafka(settings: Settings) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic = settings.topics.scores

    async def round_trip() -> list[bytes]:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            for i in range(20):
                await producer.send_and_wait(topic, f"ak-{i}".encode())
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            auto_offset_reset="earliest",
            group_id=f"g-{uuid.uuid4().hex}",
        )
        await consumer.start()
        got: list[bytes] = []
        try:
            deadline = time.monotonic() + 15
            while len(got) < 20 and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=1000)
                for messages in batch.values():
                    got.extend(m.value for m in messages if m.value is not None)
        finally:
            await consumer.stop()
        return got

    received = asyncio.run(round_trip())
    assert sorted(received) == sorted(f"ak-{i}".encode() for i in range(20))


def test_clickhouse_create_insert_select(ch_client) -> None:  # type: ignore[no-untyped-def]
    ch_client.execute("CREATE TABLE t (id String, x Float64) ENGINE = MergeTree ORDER BY id")
    rows = [("a'b", 1.5), ("c\\d", 2.5), ("e\nf", 3.0)]
    ch_client.execute("INSERT INTO t (id, x) VALUES", rows)
    assert ch_client.execute("SELECT id, x FROM t ORDER BY x") == rows
    assert ch_client.execute("SELECT sum(x) FROM t WHERE id = %(id)s", {"id": "a'b"}) == [(1.5,)]


def test_smtp_message_lands_as_eml_file(settings: Settings, maildir: Path) -> None:
    subject = f"stack test {uuid.uuid4()}"
    message = EmailMessage()
    message["From"] = "test@localhost"
    message["To"] = "team@localhost"
    message["Subject"] = subject
    message.set_content("hello from smtplib")
    before = set(maildir.glob("*.eml"))
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as client:
        client.send_message(message)
    new = set(maildir.glob("*.eml")) - before
    matching = [path for path in new if subject in path.read_text()]
    assert len(matching) == 1
    assert "hello from smtplib" in matching[0].read_text()


def _databases(port: int) -> set[str]:
    from clickhouse_driver import Client

    client = Client(host="127.0.0.1", port=port)
    try:
        return {name for (name,) in client.execute("SELECT name FROM system.databases")}
    finally:
        client.disconnect()


def _cli(config: StackConfig, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SCORESTREAM_STATE_DIR": str(config.state_dir),
        "SCORESTREAM_KAFKA_PORT": str(config.kafka_port),
        "SCORESTREAM_KAFKA_CONTROLLER_PORT": str(config.kafka_controller_port),
        "SCORESTREAM_CLICKHOUSE_PORT": str(config.clickhouse_port),
        "SCORESTREAM_CLICKHOUSE_HTTP_PORT": str(config.clickhouse_http_port),
        "SCORESTREAM_SMTP_PORT": str(config.smtp_port),
    }
    return run_cli(list(args), env, timeout_s=300)


@pytest.mark.integration
def test_stack_lifecycle_up_twice_kill_down(tmp_path: Path, stack: LocalStack) -> None:
    # A second, independent stack on other ports, so the shared one is not disturbed.
    config = StackConfig(
        state_dir=tmp_path / "stack",
        kafka_port=29092,
        kafka_controller_port=29093,
        clickhouse_port=29000,
        clickhouse_http_port=28123,
        smtp_port=28025,
    )
    try:
        first = _cli(config, "stack", "up")
        assert first.returncode == 0, first.stderr
        assert "export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:29092" in first.stdout
        assert "export CLICKHOUSE_URL=clickhouse://default:@127.0.0.1:29000/scoring" in first.stdout
        assert "scoring" in _databases(29000)  # a fresh server: `up` created it
        assert "export SMTP_PORT=28025" in first.stdout

        second = _cli(config, "stack", "up")
        assert second.returncode == 0
        assert second.stderr.count("already running") == 3

        local = LocalStack(config)
        broker = local.kafka.running()
        assert broker is not None
        os.kill(broker.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while local.kafka.running() is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        status = _cli(config, "stack", "status")
        assert status.returncode == 3
        kafka_line = next(line for line in status.stdout.splitlines() if "kafka" in line)
        assert "stopped" in kafka_line

        again = _cli(config, "stack", "up")
        assert again.returncode == 0, again.stderr
        assert "kafka started" in again.stderr
        assert again.stderr.count("already running") == 2
        assert _cli(config, "stack", "status").returncode == 0
    finally:
        down = _cli(config, "stack", "down")
    assert down.returncode == 0
    for port in (29092, 29093, 29000, 28123, 28025):
        assert not port_open(port), f"port {port} still open after down"
    after = _cli(config, "stack", "status")
    assert after.returncode == 3
    assert after.stdout.count("stopped") == 3


def test_stack_up_creates_the_database_it_prints(stack: LocalStack, unique_name: str) -> None:
    # The shared stack is running: `up` only reports it, prints the exports and creates the
    # database of CLICKHOUSE_URL, here a fresh one named by the variable that sets it.
    port = stack.clickhouse.port
    assert unique_name not in _databases(port)
    env = {**os.environ, "SCORESTREAM_GRAFANA_READER_DATABASE": unique_name}
    try:
        up = run_cli(["stack", "up"], env, timeout_s=120)
        assert up.returncode == 0, up.stderr
        assert up.stderr.count("already running") == 3
        url = f"clickhouse://default:@127.0.0.1:{port}/{unique_name}"
        assert f"export CLICKHOUSE_URL={url}\n" in up.stdout
        assert unique_name in _databases(port)
        # Idempotent: a second call (a second `up`) finds it and keeps it.
        assert stack.clickhouse.create_database(unique_name) == unique_name
        assert unique_name in _databases(port)
    finally:
        from clickhouse_driver import Client

        Client(host="127.0.0.1", port=port).execute(f"DROP DATABASE IF EXISTS {unique_name}")


def test_stack_up_refuses_a_database_name_that_is_not_an_identifier(tmp_path: Path) -> None:
    env = {**os.environ, "SCORESTREAM_GRAFANA_READER_DATABASE": "scoring; DROP TABLE x"}
    done = run_cli(["stack", "status"], env, timeout_s=60)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("scorestream stack: error: ")
    assert "not a plain identifier" in line


# grafana_reader (read-only, only the `scoring` database): tests/grafana/test_reader.py, on a
# private server, as the per-test databases here are outside what the reader may read.
