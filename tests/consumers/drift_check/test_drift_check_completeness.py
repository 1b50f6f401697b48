"""No verdict on an incomplete day (issue 15, finding 2): counts lagging or consumers lagging.

Real ClickHouse, Kafka and SMTP. The day's scores are stored but not yet counted: the
check says "incomplete", exits 3 and writes nothing; once the counts are in, the re-check
gives the true verdict ("drift") and sends one e-mail. A worker group behind the records
topic holds the day back the same way, until it commits the end.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from scorestream.child_process import run_cli
from scorestream.consumer_groups import scoring_group
from scorestream.consumers.alerting.delivery import deliver_pending
from scorestream.consumers.clickhouse import apply_migrations
from scorestream.consumers.drift_check.completeness import assess
from scorestream.consumers.drift_check.models import ModelLocator
from scorestream.consumers.drift_check.schedule import INCOMPLETE_FEATURE, DriftCheckScheduler
from scorestream.contract import SCORES
from scorestream.settings import Settings
from scorestream.topics import ensure_topics
from tests.consumers.alerting.email_support import DAY, cancer_model, day_of_records, larger_areas
from tests.consumers.comparison.score_rows import score_rows
from tests.consumers.drift_check.drift_stats_rows import write_day


def _daily_rows(ch_client: Any, database: str) -> list[tuple[str, str]]:
    return ch_client.execute(
        f"SELECT feature, level FROM {database}.drift_checks FINAL "
        "WHERE check_kind = 'daily' AND period_start = %(day)s ORDER BY feature",
        {"day": datetime(DAY.year, DAY.month, DAY.day)},
    )


def test_an_uncounted_day_is_incomplete_then_checked_with_its_true_verdict(
    settings: Settings, settings_env: dict[str, str], ch_client: Any
) -> None:
    database = settings.clickhouse.database
    model, frame = _scores_without_counts(settings, ch_client)
    env = {**settings_env, "MODEL_DIR": str(model.path)}
    command = ["drift-check", "--date", DAY.isoformat(), "--wait-complete", "2"]

    early = run_cli(command, env, timeout_s=90)
    assert early.returncode == 3, early.stderr
    assert f"incomplete: 0 of {len(frame):,} scores counted" in early.stderr
    assert _daily_rows(ch_client, database) == []  # nothing marks the day checked

    write_day(ch_client, database, model, DAY, frame, model_name="cancer")
    later = run_cli(command, env, timeout_s=90)
    assert later.returncode == 0, later.stderr
    assert ("mean_area", "drift") in _daily_rows(ch_client, database)
    assert "alert e-mails sent: 1" in later.stderr
    sent = ch_client.execute(f"SELECT count() FROM {database}.alert_deliveries FINAL")
    assert sent == [(1,)]


def test_a_worker_group_behind_the_records_topic_holds_the_day_back(
    settings: Settings, ch_client: Any
) -> None:
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    ensure_topics(settings)
    topic = settings.topics.records
    servers = settings.kafka_bootstrap_servers
    group = KafkaConsumer(bootstrap_servers=servers, group_id=scoring_group(settings.topic_prefix))
    partition = TopicPartition(topic, 0)
    group.assign([partition])
    group.commit({partition: OffsetAndMetadata(0, "", -1)})  # the worker took the topic
    producer = KafkaProducer(bootstrap_servers=servers)
    for k in range(5):
        producer.send(topic, b"{}", key=f"k{k}".encode(), partition=0)
    producer.flush()
    producer.close()

    behind = assess(settings, ch_client, DAY, wait_s=0)
    assert not behind.complete
    assert behind.worker_lag == 5
    assert "lag 5" in behind.summary()

    group.commit({partition: OffsetAndMetadata(5, "", -1)})  # the worker scored them
    group.close()
    caught_up = assess(settings, ch_client, DAY, wait_s=0)
    assert caught_up.worker_lag == 0 and caught_up.complete, caught_up.summary()


def _scores_without_counts(settings: Settings, ch_client: Any) -> tuple[Any, Any]:
    """The day's scores stored, its drift counts not yet: (model, records)."""
    database = settings.clickhouse.database
    apply_migrations(ch_client, database)
    ensure_topics(settings)
    model = cancer_model()
    frame = day_of_records(larger_areas)
    ids = [f"r{k}" for k in range(len(frame))]
    start = datetime(DAY.year, DAY.month, DAY.day)
    scores = model.predict_scores(frame[model.schema.names])
    rows = score_rows(ids, start, "cancer", model.version, "binary", scores, ["0"] * len(ids))
    ch_client.execute(SCORES.insert_sql(database), rows)
    return model, frame


def test_the_scheduler_keeps_an_incomplete_day_and_checks_it_once_complete(
    settings: Settings, ch_client: Any
) -> None:
    database = settings.clickhouse.database
    model, frame = _scores_without_counts(settings, ch_client)
    locator = ModelLocator(settings.models_dir, model)
    age = (datetime.now(UTC).date() - DAY).days
    scheduler = DriftCheckScheduler(settings, model, catch_up_days=age + 1, wait_complete_s=0)

    scheduler._check_day(DAY, ch_client, locator)
    assert scheduler.incomplete == {DAY}
    assert _daily_rows(ch_client, database) == []

    write_day(ch_client, database, model, DAY, frame, model_name="cancer")
    scheduler._check_day(DAY, ch_client, locator)  # the next rolling tick
    assert scheduler.incomplete == set()
    assert ("mean_area", "drift") in _daily_rows(ch_client, database)
    assert deliver_pending(settings) == 1


def test_a_day_too_old_to_wait_for_is_checked_with_an_incomplete_alert(
    settings: Settings, ch_client: Any
) -> None:
    database = settings.clickhouse.database
    model, _ = _scores_without_counts(settings, ch_client)
    locator = ModelLocator(settings.models_dir, model)
    scheduler = DriftCheckScheduler(settings, model, catch_up_days=7, wait_complete_s=0)

    scheduler._check_day(DAY, ch_client, locator)
    assert scheduler.incomplete == set()
    assert (INCOMPLETE_FEATURE, "error") in _daily_rows(ch_client, database)
    message = ch_client.execute(
        f"SELECT error FROM {database}.drift_checks FINAL WHERE feature = %(feature)s",
        {"feature": INCOMPLETE_FEATURE},
    )
    assert message and "checked incomplete: incomplete: 0 of 2,000" in message[0][0]
    assert deliver_pending(settings) == 1
