"""``scorestream drift-check --schedule``, the one scheduler: catch-up and rolling windows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scorestream.consumers.clickhouse import apply_migrations
from scorestream.contract import CHALLENGER_SCORES, SCORES
from scorestream.settings import Settings
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.synthetic import generate_frame
from tests.consumers.comparison.score_rows import insert, score_rows
from tests.consumers.drift_check.drift_stats_rows import write_day


def test_scheduler_catches_up_missed_days_and_computes_rolling_windows(
    settings: Settings,
    settings_env: dict[str, str],
    ch_client,
    model_dir: Path,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    import time

    from scorestream.child_process import spawn_cli, terminate

    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    model = LoadedModel.load(model_dir)
    now = datetime.now(UTC).replace(tzinfo=None)
    missed = (now - timedelta(days=2)).date()
    write_day(
        ch_client,
        database,
        model,
        missed,
        generate_frame(3000, seed=32, start=f"{missed}T00:00:00"),
    )
    # The last hour, for the rolling windows: rows 10 minutes ago.
    recent = generate_frame(2000, seed=33)
    features = recent[model.schema.names]
    rows = [
        (
            now.replace(second=0, microsecond=0) - timedelta(minutes=10),
            feature,
            "x",
            model.version,
            uuid.uuid4().hex,
            [int(v) for v in bins],
            int(bins.sum()),
            0,
            0.0,
            0.0,
            0,
        )
        for feature, bins in model.profile.count(features, model.predict_scores(features)).items()
    ]
    ch_client.execute(
        f"INSERT INTO {database}.drift_stats (minute, feature, kind, model_version, batch_id, "
        "counts, count, missing, sum, sumsq, emitted_at_ms) VALUES",
        rows,
    )

    # The same records scored by a challenger: the rolling comparisons pair them.
    scored = recent.head(300)
    ours = model.predict(scored[model.schema.names])
    ids = [f"recent-{k}" for k in range(len(scored))]
    at = now.replace(second=0, microsecond=0) - timedelta(minutes=10)
    champion = score_rows(ids, at, "loans", model.version, "binary", ours.scores, list(ours.labels))
    # score_rows spreads the records over 24 hours: keep them all within the last hour.
    champion = [(r[0], at, *r[2:]) for r in champion]
    challenger = [(*r[:5], "loans-shadow", "s1", min(1.0, r[7] + 0.05), *r[8:]) for r in champion]
    insert(ch_client, database, SCORES, champion)
    insert(ch_client, database, CHALLENGER_SCORES, challenger)

    env = {**settings_env, "MODEL_DIR": str(model_dir)}
    scheduler = spawn_cli(
        ["drift-check", "--schedule", "--rolling-every", "2"], env, tmp_path / "scheduler.log"
    )
    try:
        deadline = time.monotonic() + 60
        kinds: dict[str, int] = {}
        compared: list[tuple[str, str, int]] = []
        # The comparisons of a window run right after its checks.
        while time.monotonic() < deadline and (len(kinds) < 3 or len(compared) < 2):
            time.sleep(1)
            kinds = dict(
                ch_client.execute(
                    f"SELECT check_kind, max(n_current) FROM {database}.drift_checks FINAL "
                    "GROUP BY check_kind"
                )
            )
            compared = ch_client.execute(
                "SELECT check_kind, challenger_name, n_paired "
                f"FROM {database}.model_comparisons FINAL "
                "WHERE check_kind != 'daily' ORDER BY check_kind"
            )
        assert scheduler.poll() is None, (tmp_path / "scheduler.log").read_text()[-3000:]
    finally:
        terminate(scheduler)
    assert scheduler.returncode == 0
    assert kinds.get("daily") == 3000  # the day missed while nothing ran
    assert kinds.get("rolling_1h") == 2000
    assert kinds.get("rolling_24h") == 2000
    days = ch_client.execute(
        f"SELECT DISTINCT toDate(period_start) FROM {database}.drift_checks FINAL "
        "WHERE check_kind = 'daily'"
    )
    assert (missed,) in days
    assert compared == [("rolling_1h", "loans-shadow", 300), ("rolling_24h", "loans-shadow", 300)]
