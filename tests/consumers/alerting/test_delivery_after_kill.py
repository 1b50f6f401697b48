"""A drift check killed while SMTP is down: the next check e-mails the alert, in that run.

The killed check's consumer still holds the alerts group (its session has not timed out);
the next one-shot check, a static member with the same instance id, takes the partitions
over at once and delivers every alert below the end offsets it saw, instead of giving up
after a few idle seconds with "alert e-mails sent: 0".
"""

from __future__ import annotations

import email
import os
import signal
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from scorestream.child_process import run_cli, spawn_cli
from scorestream.consumers.clickhouse import apply_migrations
from scorestream.settings import Settings
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.synthetic import generate_frame
from tests.consumers.drift_check.drift_stats_rows import write_day

DAY = date(2026, 5, 7)


def _dead_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _drifted_day(settings: Settings, ch_client: Any, model_dir: Path) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    frame = generate_frame(3000, seed=43, start=f"{DAY}T00:00:00")
    frame["income"] = frame["income"] * 3
    write_day(ch_client, database, LoadedModel.load(model_dir), DAY, frame)


def test_the_next_check_delivers_the_alert_of_a_check_killed_mid_delivery(
    settings: Settings,
    settings_env: dict[str, str],
    ch_client: Any,
    model_dir: Path,
    maildir: Path,
) -> None:
    _drifted_day(settings, ch_client, model_dir)
    # A recipient of this test alone: the stack's maildir is shared with other tests.
    recipient = f"{settings.clickhouse.database}@example.org"
    env = {**settings_env, "MODEL_DIR": str(model_dir), "ALERT_EMAIL_TO": recipient}
    command = ["drift-check", "--date", str(DAY)]
    dead = _dead_port()

    killed = spawn_cli(command, {**env, "SMTP_PORT": str(dead)}, capture=True)
    try:
        # Mid-delivery: the check joined the alerts group, read the alert and retries SMTP.
        assert killed.stderr is not None
        seen: list[str] = []
        while not any(f":{dead} failed" in line for line in seen):
            line = killed.stderr.readline()
            assert line, "drift-check ended before trying SMTP:\n" + "".join(seen)
            seen.append(line)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(10)
    database = settings.clickhouse.database
    delivered = f"SELECT count() FROM {database}.alert_deliveries FINAL"
    assert ch_client.execute(delivered)[0][0] == 0

    before = set(maildir.glob("*.eml"))
    following = run_cli(command, env, timeout_s=180)
    assert following.returncode == 0, following.stderr
    assert "alert e-mails sent: 1" in following.stderr, following.stderr
    mails = [
        email.message_from_bytes(path.read_bytes())
        for path in sorted(set(maildir.glob("*.eml")) - before)
    ]
    ours = [mail for mail in mails if recipient in str(mail["To"])]
    assert len(ours) == 1, [m["To"] for m in mails]
    assert str(DAY) in str(ours[0]["Subject"]) and "income" in str(ours[0]["Subject"])
    assert ch_client.execute(delivered)[0][0] == 1


_HOLDER = (
    "import sys\n"
    "from kafka import KafkaConsumer\n"
    "consumer = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1], group_id=sys.argv[3],\n"
    "    group_instance_id='another-delivery', enable_auto_commit=False,\n"
    "    auto_offset_reset='earliest')\n"
    "while True:\n"
    "    if consumer.poll(timeout_ms=500):\n"
    "        print('read an alert', flush=True)\n"
)


@pytest.mark.timeout(120)
def test_alerts_held_by_another_member_are_reported_not_silently_left(
    settings: Settings, ch_client: Any
) -> None:
    from kafka import KafkaProducer

    from scorestream.consumers.alerting.delivery import (
        ONE_SHOT_INSTANCE,
        AlertDelivery,
        alerts_group,
    )
    from scorestream.exceptions import AlertsPendingError
    from scorestream.topics import ensure_topics

    apply_migrations(ch_client, settings.clickhouse.database)
    topic = settings.topics.drift_alerts
    ensure_topics(settings, [topic])
    # Another live member (say a scheduler retrying SMTP) that never commits: with the range
    # assignor it gets partitions 0 and 1 ("another-delivery-..." sorts before
    # "drift-check-..."), and the alert waits on partition 0.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _HOLDER,
            settings.kafka_bootstrap_servers,
            topic,
            alerts_group(settings.topic_prefix),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
        producer.send(topic, key=b"daily:2026-05-08", value=b"{}", partition=0).get(30)
        producer.close()
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "read an alert"

        delivery = AlertDelivery(settings, ch_client, ONE_SHOT_INSTANCE)
        with pytest.raises(AlertsPendingError) as raised:
            delivery.drain(wait_s=3)
    finally:
        holder.kill()
        holder.wait(10)
    assert raised.value.pending == 1 and raised.value.sent == 0
    message = str(raised.value)
    assert "1 alert message(s)" in message and "partition(s) 0 not assigned" in message
