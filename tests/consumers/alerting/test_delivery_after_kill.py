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
from datetime import date
from pathlib import Path
from typing import Any

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
