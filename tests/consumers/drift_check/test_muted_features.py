"""A muted feature (DRIFT_MUTED_FEATURES) is checked and stored, but its drift alone sends no
e-mail; unmuted, the same day alerts (real ClickHouse, Kafka and SMTP)."""

from __future__ import annotations

from typing import Any

from scorestream.consumers.alerting.delivery import deliver_pending
from scorestream.consumers.clickhouse import apply_migrations
from scorestream.consumers.drift_check.schedule import check_day
from scorestream.settings import Settings
from scorestream.topics import ensure_topics
from tests.consumers.alerting.email_support import DAY, cancer_model, day_of_records, larger_areas
from tests.consumers.drift_check.drift_stats_rows import write_day


def test_a_muted_feature_is_checked_but_not_emailed(settings: Settings, ch_client: Any) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    ensure_topics(settings)
    model = cancer_model()
    write_day(ch_client, database, model, DAY, day_of_records(larger_areas), model_name="cancer")
    muted = settings.model_copy(update={"drift_muted_features": "cancer:mean_area"})

    (result,) = check_day(muted, model, DAY, ch_client)
    assert [d.feature for d in result.drifted] == ["mean_area"]
    stored = ch_client.execute(
        f"SELECT level FROM {database}.drift_checks FINAL WHERE feature = 'mean_area'"
    )
    assert stored == [("drift",)]  # the dashboards still show it
    assert deliver_pending(settings) == 0

    check_day(settings, model, DAY, ch_client)  # unmuted: the same day alerts
    assert deliver_pending(settings) == 1
