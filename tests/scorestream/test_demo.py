"""``scorestream demo`` (what ``make demo`` runs) ends with a drift e-mail naming the feature."""

from __future__ import annotations

import email
from pathlib import Path

from scorestream.child_process import run_cli
from scorestream.stack import LocalStack


def test_demo_ends_with_a_drift_email(stack: LocalStack, tmp_path: Path) -> None:
    done = run_cli(
        ["demo", "--records-per-day", "4000", "--model-dir", str(tmp_path / "model")],
        timeout_s=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.parent == stack.smtp.maildir
    mail = email.message_from_bytes(path.read_bytes())
    assert "income" in mail["Subject"]
    assert "2026-01-11: 4,000 records, drift in: income" in done.stderr
    assert "2026-01-10: 4,000 records, drift in: nothing" in done.stderr
    # It produced only once the worker owned its partitions (the latency is scoring's).
    assert "the worker owns 4 partitions after" in done.stderr
