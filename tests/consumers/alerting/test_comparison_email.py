"""The daily e-mail names the model and carries the day's "Model comparison" (real SMTP).

A drifted day of the loans model (income shifted) with a challenger (gradient boosting
trained on other data) scoring the same records: the drift check writes the comparison
row, the alert carries it, and the e-mail the local SMTP server receives says the same
numbers as the stored scores, with one more chart.
"""

from __future__ import annotations

import email
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scorestream.consumers.alerting.delivery import deliver_pending
from scorestream.consumers.clickhouse import apply_migrations
from scorestream.consumers.drift_check.schedule import check_day
from scorestream.contract import CHALLENGER_SCORES, SCORES
from scorestream.settings import Settings
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.train import train_model
from scorestream.streams.synthetic import generate_frame
from scorestream.topics import ensure_topics
from tests.consumers.comparison.score_rows import expected_row, insert, score_rows, stored_pairs
from tests.consumers.drift_check.drift_stats_rows import write_day

DAY = date(2026, 6, 9)


def test_the_daily_email_has_a_model_comparison_section(
    settings: Settings, ch_client: Any, model_dir: Path, maildir: Path, tmp_path: Path
) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    ensure_topics(settings)
    model = LoadedModel.load(model_dir)
    train_model(
        generate_frame(6000, seed=9),
        "default",
        tmp_path / "hgb",
        name="loans-hgb",
        classifier="hgb",
        seed=0,
    )
    challenger = LoadedModel.load(tmp_path / "hgb")
    frame = generate_frame(3000, seed=60, start=f"{DAY}T00:00:00")
    frame["income"] = frame["income"] * 1.8  # the drift the alert is about
    write_day(ch_client, database, model, DAY, frame, model_name="loans")
    features = frame[model.schema.names]
    ids = [str(v) for v in frame["id"]]
    start = datetime(DAY.year, DAY.month, DAY.day)
    ours, theirs = model.predict(features), challenger.predict(features)
    insert(
        ch_client,
        database,
        SCORES,
        score_rows(ids, start, "loans", model.version, "binary", ours.scores, list(ours.labels)),
    )
    insert(
        ch_client,
        database,
        CHALLENGER_SCORES,
        score_rows(
            ids,
            start,
            "loans-hgb",
            challenger.version,
            "binary",
            theirs.scores,
            list(theirs.labels),
        ),
    )
    before = set(maildir.glob("*.eml"))

    (result,) = check_day(settings, model, DAY, ch_client)
    assert "income" in {d.feature for d in result.drifted}
    sent = deliver_pending(settings)
    assert sent == 1

    alert_id = f"daily:{DAY}T00:00:loans@{model.version}"
    mails = [
        m
        for m in (
            email.message_from_bytes(p.read_bytes()) for p in set(maildir.glob("*.eml")) - before
        )
        if m["X-Scorestream-Alert-Id"] == alert_id
    ]
    assert len(mails) == 1
    mail = mails[0]
    assert "model loans" in mail["Subject"] and "income" in mail["Subject"]
    text = (
        next(p for p in mail.walk() if p.get_content_type() == "text/plain")
        .get_payload(decode=True)
        .decode()
    )
    pairs = stored_pairs(ch_client, database, start, start + timedelta(days=1), "loans-hgb")
    want = expected_row(pairs, "binary", model.profile["_score"].edges, None)  # type: ignore[union-attr]
    assert f"Model comparison (champion loans@{model.version})" in text
    assert (
        f"- loans-hgb@{challenger.version}: 3,000 records scored by both, "
        f"agreement {100 * want['agreement_rate']:.1f}% (same predicted class)"
    ) in text
    assert f"PSI {want['score_psi']:.3f}" in text
    assert f"Version: {model.version}" in text
    pngs = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert len(pngs) == len(result.drifted) + 1
    assert all(p.get_payload(decode=True).startswith(b"\x89PNG") for p in pngs)
    html = (
        next(p for p in mail.walk() if p.get_content_type() == "text/html")
        .get_payload(decode=True)
        .decode()
    )
    assert "Model comparison" in html and "loans-hgb@" in html
    # The last chart is the comparison's, shown in its section (inline, not attached).
    chart = f"cid:{pngs[-1]['Content-ID'].strip('<>')}"
    assert html.index(chart) > html.index("Model comparison")
    assert pngs[-1].get_content_disposition() == "inline"
    stored = ch_client.execute(
        f"SELECT n_paired, agreement_rate FROM {database}.model_comparisons FINAL"
    )
    assert stored == [(3000, pytest.approx(want["agreement_rate"]))]
