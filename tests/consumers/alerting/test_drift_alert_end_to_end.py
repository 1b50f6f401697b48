"""Drift end to end: producer --drift → worker → sink → drift-check → one e-mail."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scorestream.child_process import run_cli, spawn_cli
from scorestream.settings import Settings
from scorestream.stack import SmtpServer, StackConfig
from scorestream.topics import ensure_topics
from tests.kafka_io import binned_count, collect
from tests.mail import mails_to

RECORDS = 20_000


def _cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run_cli(list(args), env, timeout_s=timeout)


def _score_day(
    settings: Settings,
    env: dict[str, str],
    start_worker,
    model_dir: Path,  # type: ignore[no-untyped-def]
    day: str,
    drift: str,
    seed: int,
) -> None:
    """One day of records (drifted from the first on), scored and stored in ClickHouse."""
    produced = _cli(
        env,
        "produce",
        "--synthetic",
        str(RECORDS),
        "--seed",
        str(seed),
        "--start",
        f"{day}T00:00:00",
        "--interval-ms",
        "4000",
        "--drift",
        drift,
        "--model-dir",
        str(model_dir),
        "--quiet",
    )
    assert produced.returncode == 0, produced.stderr
    assert f"sent {RECORDS}" in produced.stderr
    start_worker()

    def counted(messages: list[dict]) -> int:
        return binned_count(messages, "_score")

    collect(
        settings, settings.topics.drift_stats, until=lambda m: counted(m) >= RECORDS, timeout_s=180
    )
    sunk = _cli(env, "sink", "--once")
    assert sunk.returncode == 0, sunk.stderr


def test_drifted_feature_is_emailed_once(
    settings: Settings,
    settings_env: dict[str, str],
    start_worker,
    model_dir: Path,
    maildir: Path,  # type: ignore[no-untyped-def]
    ch_client,
) -> None:
    ensure_topics(settings)
    env = {**settings_env, "MODEL_DIR": str(model_dir)}
    _score_day(settings, env, start_worker, model_dir, "2026-06-01", "income=shift:0.6", 21)
    before = set(maildir.glob("*.eml"))

    first = _cli(env, "drift-check", "--date", "2026-06-01")
    assert first.returncode == 0, first.stderr
    mails = mails_to(settings, maildir, before)
    assert len(mails) == 1
    mail = mails[0]
    assert "income" in mail["Subject"]
    assert "2026-06-01" in mail["Subject"]
    parts = {part.get_content_type() for part in mail.walk()}
    assert {"text/plain", "text/html", "image/png"} <= parts
    pngs = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert len(pngs) == 1 and pngs[0].get_payload(decode=True).startswith(b"\x89PNG")

    database = settings.clickhouse.database
    rows = ch_client.execute(
        f"SELECT feature, level, n_current FROM {database}.drift_checks FINAL "
        "WHERE check_kind = 'daily' AND period_start = toDateTime('2026-06-01 00:00:00')"
    )
    levels = {feature: level for feature, level, _ in rows}
    assert levels["income"] == "drift"
    assert [f for f, level in levels.items() if level == "drift" and f != "_score"] == ["income"]
    assert {n for _, _, n in rows} == {RECORDS}

    again = _cli(env, "drift-check", "--date", "2026-06-01")
    assert again.returncode == 0, again.stderr
    assert len(mails_to(settings, maildir, before)) == 1, "a second check sent a second e-mail"


def test_alert_waits_for_smtp_and_arrives_once(
    settings: Settings,
    settings_env: dict[str, str],
    start_worker,
    model_dir: Path,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    ensure_topics(settings)
    smtp = SmtpServer(StackConfig(state_dir=tmp_path / "smtp-later", smtp_port=28125))
    env = {**settings_env, "MODEL_DIR": str(model_dir), "SMTP_PORT": "28125"}
    _score_day(settings, env, start_worker, model_dir, "2026-06-02", "region=weight:north:0.6", 22)

    check = spawn_cli(["drift-check", "--date", "2026-06-02"], env, capture=True)
    try:
        # Wait (however busy the machine) until the check has tried the dead port at least
        # twice: it retries instead of giving up.
        assert check.stderr is not None
        seen: list[str] = []
        while sum(":28125 failed" in line for line in seen) < 2:
            line = check.stderr.readline()
            assert line, "drift-check ended while SMTP was down:\n" + "".join(seen)
            seen.append(line)
        assert check.poll() is None, "drift-check gave up while SMTP was down"
        assert any("e-mailing the alert via SMTP" in line for line in seen)
        smtp.start()
        _, rest = check.communicate(timeout=120)
        assert check.returncode == 0, "".join(seen) + rest
        mails = mails_to(settings, smtp.maildir, set())
        assert len(mails) == 1
        assert "region" in mails[0]["Subject"]
    finally:
        if check.poll() is None:
            check.kill()
        smtp.stop()
    again = _cli(env, "drift-check", "--date", "2026-06-02")
    assert again.returncode == 0
    assert len(list(smtp.maildir.glob("*.eml"))) == 1
