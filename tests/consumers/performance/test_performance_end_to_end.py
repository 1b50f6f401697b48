"""Issue #14's "Must show", end to end on the real components.

Records go through Kafka to a real ``scorestream worker``, the ``scorestream sink`` stores
scores, drift counts, labels and rejections in ClickHouse 18.16, labels come through the
``labels`` topic (a plain Kafka client), ``scorestream produce --labels FILE`` and
``POST /v1/labels`` on a real ``scorestream bridge``, the daily check runs as
``scorestream drift-check --date D`` or as the functions the scheduler calls, and the alert
e-mails land in the local SMTP server's maildir. Nothing is inserted into ClickHouse by
hand. One worker, sink and bridge serve the whole module.

The model: logistic regression (``train_model``, which fits its calibration on the 20 %
holdout) on four features of scikit-learn's breast cancer data. Days (3,060 records):

- **A, covariate shift** in ``worst_radius``, the feature the model relies on most
  (permutation importance): the day is drawn from the records whose worst radius lies where
  benign and malignant tumours overlap, so ROC AUC really falls (accuracy a little), while
  each record keeps its own label: P(label | inputs) is the data set's;
- **B, concept shift**: the day is drawn from the whole data set (inputs unchanged), but
  the label rule changed: labels are flipped for the most textured tumours;
- **C**: 60 records for the hostile labels.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.datasets import load_breast_cancer
from sklearn.inspection import permutation_importance

from scorestream.child_process import run_cli, spawn_cli
from scorestream.consumers.alerting.delivery import deliver_pending
from scorestream.consumers.clickhouse import make_client
from scorestream.consumers.drift_check.check import Period
from scorestream.consumers.drift_check.models import ModelLocator
from scorestream.consumers.drift_check.schedule import (
    LABEL_WINDOW_DAYS,
    DriftCheckScheduler,
    check_day,
    recheck_performance,
    run_labels_check,
)
from scorestream.consumers.performance.check import check_performance
from scorestream.settings import Settings
from scorestream.streams.model.registry import LoadedModel
from scorestream.streams.model.train import train_model
from scorestream.streams.performance import BinaryPieces, binary_metrics
from scorestream.topics import ensure_topics
from tests.fixtures.bridge import API_KEY, BridgeProcess, free_port
from tests.kafka_io import produce_raw
from tests.mail import mails_to

pytestmark = pytest.mark.integration

FEATURES = ["worst_concave_points", "worst_radius", "mean_texture", "worst_smoothness"]
SHIFTED = "worst_radius"
DAY_A, DAY_B, DAY_C = date(2026, 6, 1), date(2026, 6, 2), date(2026, 6, 3)
N_A, N_B, N_C = 1500, 1500, 60
#: Day B's labels that arrive first (CLI and bridge); the rest come a week late (Kafka).
FIRST_B = 400


def cancer() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame.rename(columns=lambda c: c.replace(" ", "_"))
    return frame[[*FEATURES, "target"]]


@dataclass
class Pipeline:
    """The module's running system and the days it scored."""

    settings: Settings
    env: dict[str, str]
    client: Any
    model: LoadedModel
    model_dir: Path
    bridge: BridgeProcess
    days: dict[date, pd.DataFrame]
    logs: list[Path]

    @property
    def database(self) -> str:
        return self.settings.clickhouse.database

    @property
    def locator(self) -> ModelLocator:
        return ModelLocator(self.settings.models_dir, self.model)

    def mails(self, maildir: Path, before: set[Path], day: date) -> list[Message]:
        """The e-mails of ``day``'s alert to this module's address not in ``before``."""
        return mails_to(
            self.settings, maildir, before, f"daily:{day}T00:00:cancer@{self.model.version}"
        )

    def count(self, sql: str, params: dict[str, Any] | None = None) -> int:
        return int(self.client.execute(sql.format(db=self.database), params or {})[0][0])

    def wait_for(self, sql: str, want: int, params: dict[str, Any] | None = None) -> None:
        """Poll ``sql`` (a count) until it reaches ``want``; fail with the logs if never."""
        deadline, got = time.monotonic() + 120, -1
        while time.monotonic() < deadline:
            got = self.count(sql, params)
            if got >= want:
                assert got == want, sql
                return
            time.sleep(0.3)
        tails = "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.logs
        )
        pytest.fail(f"{sql}: {got}, never {want}\n{tails}")

    def wait_for_labels(self, prefix: str, want: int) -> None:
        self.wait_for(
            "SELECT count() FROM {db}.labels FINAL WHERE startsWith(id, %(p)s)", want, {"p": prefix}
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = run_cli(list(args), self.env, timeout_s=180)
        assert done.returncode == 0, done.stderr
        return done


def day_records(frame: pd.DataFrame, day: date, prefix: str) -> pd.DataFrame:
    """``frame``'s rows as the day's records: ids ``prefix0...``, event times over the day."""
    records = frame.reset_index(drop=True).copy()
    step = 86_400 / len(records)
    start = datetime(day.year, day.month, day.day)
    records.insert(0, "id", [f"{prefix}{k}" for k in range(len(records))])
    records.insert(
        1,
        "event_time",
        [(start + timedelta(seconds=int(k * step))).isoformat() for k in range(len(records))],
    )
    return records


@pytest.fixture(scope="module")
def pipeline(
    module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    # Other runs share the SMTP server's maildir: this module's alerts go to its own address
    # (``module_settings``, which the environment below carries).
    settings = module_settings
    tmp = tmp_path_factory.mktemp("perf-e2e")
    frame = cancer()
    model_dir = tmp / "cancer"
    train_model(frame, "target", model_dir, name="cancer", seed=0)
    model = LoadedModel.load(model_dir)
    env = {**os.environ, **settings.environment(), "MODEL_DIR": str(model_dir)}
    env |= {"INGEST_API_KEYS": API_KEY}
    ensure_topics(settings)

    rng = np.random.default_rng(3)
    radius, y = frame[SHIFTED].to_numpy(), frame["target"].to_numpy()
    # Where benign (1) and malignant (0) tumours overlap in worst radius.
    low, high = sorted((np.quantile(radius[y == 1], 0.75), np.quantile(radius[y == 0], 0.25)))
    overlap = np.flatnonzero((radius >= low) & (radius <= high))
    days = {
        DAY_A: day_records(frame.iloc[rng.choice(overlap, N_A)], DAY_A, "a"),
        DAY_B: day_records(frame.iloc[rng.choice(len(frame), N_B)], DAY_B, "b"),
        DAY_C: day_records(frame.iloc[rng.choice(len(frame), N_C)], DAY_C, "c"),
    }
    everything = pd.concat(days.values()).drop(columns="target")

    logs = [tmp / "worker.log", tmp / "sink.log", tmp / "bridge.log"]
    worker = spawn_cli(
        ["worker", "--model-dir", str(model_dir), "--commit-interval", "2"], env, logs[0]
    )
    sink = spawn_cli(["sink", "--flush-interval", "0.5"], env, logs[1])
    port = free_port()
    bridge = BridgeProcess(
        spawn_cli(["bridge", "--port", str(port), "--model-dir", str(model_dir)], env, logs[2]),
        port,
        logs[2],
    )
    client = make_client(settings.clickhouse)
    try:
        # The records through a plain Kafka client, keyed by id as every producer does.
        produce_raw(
            settings,
            [(r["id"].encode(), orjson.dumps(r)) for r in everything.to_dict("records")],
        )
        bridge.wait_until("/readyz", 200)
        running = Pipeline(settings, env, client, model, model_dir, bridge, days, logs)
        total = len(everything)
        running.wait_for("SELECT count() FROM {db}.scores FINAL", total)
        # The drift counts of every scored record (published with the worker's commits).
        running.wait_for(
            "SELECT sum(count) FROM {db}.drift_stats FINAL WHERE feature = '_score'", total
        )
        yield running
    finally:
        for proc in (worker, sink, bridge.proc):
            if proc.poll() is None:  # nothing of theirs is needed afterwards
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        client.disconnect()


# --- what the tests read back -----------------------------------------------------------------
def performance_rows(p: Pipeline, day: date) -> dict[tuple[str, str], dict[str, Any]]:
    rows = p.client.execute(
        f"SELECT metric, source, value, band_low, band_high, n, coverage, level "
        f"FROM {p.database}.model_performance FINAL WHERE period_start = %(start)s",
        {"start": datetime(day.year, day.month, day.day)},
    )
    names = ("value", "band_low", "band_high", "n", "coverage", "level")
    return {(r[0], r[1]): dict(zip(names, r[2:], strict=True)) for r in rows}


def stored_truth(p: Pipeline, prefix: str) -> pd.DataFrame:
    """The stored scores of ids ``prefix...`` joined to their stored labels, in pandas."""
    scores = p.client.execute(
        f"SELECT id, score FROM {p.database}.scores FINAL WHERE startsWith(id, %(p)s)",
        {"p": prefix},
    )
    labels = p.client.execute(
        f"SELECT id, label FROM {p.database}.labels FINAL WHERE startsWith(id, %(p)s)",
        {"p": prefix},
    )
    return pd.DataFrame(scores, columns=["id", "score"]).merge(
        pd.DataFrame(labels, columns=["id", "label"]), on="id"
    )


def check_realised(rows: dict[tuple[str, str], dict[str, Any]], stored: pd.DataFrame) -> None:
    """The realised rows equal scikit-learn's figures on the stored rows."""
    y = stored["label"].astype(int).to_numpy()
    s = stored["score"].to_numpy()
    auc, accuracy = rows[("roc_auc", "realised")], rows[("accuracy", "realised")]
    assert auc["n"] == accuracy["n"] == len(stored)
    assert accuracy["value"] == pytest.approx(metrics.accuracy_score(y, s >= 0.5), abs=1e-12)
    bound = binary_metrics(BinaryPieces.from_arrays(s, y)).auc_binning_error
    assert abs(auc["value"] - metrics.roc_auc_score(y, s)) <= bound + 1e-12


def plain_text(mail: Message) -> str:
    part = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def first_line(mail: Message) -> str:
    return plain_text(mail).splitlines()[0]


def delivery_caught_up(settings: Settings) -> bool:
    """Whether the alert delivery's consumer group has committed every ``drift.alerts``
    message: a delivery run that sent nothing then saw everything there was to send."""
    from kafka import KafkaConsumer, TopicPartition

    topic = settings.topics.drift_alerts
    # Asking the group's coordinator for its commits; this consumer joins nothing.
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"{settings.topic_prefix}scorestream-alerts",
        enable_auto_commit=False,
    )
    try:
        partitions = [TopicPartition(topic, n) for n in consumer.partitions_for_topic(topic)]
        ends = consumer.end_offsets(partitions)
        return all((consumer.committed(tp) or 0) >= end for tp, end in ends.items())
    finally:
        consumer.close(autocommit=False)


def label_json(record_id: str, label: Any, label_time: date) -> bytes:
    return orjson.dumps(
        {"id": record_id, "label": label, "label_time": f"{label_time.isoformat()}T09:00:00Z"}
    )


# --- the scenarios ----------------------------------------------------------------------------
def test_worst_radius_is_the_feature_the_model_relies_on(pipeline: Pipeline) -> None:
    frame = cancer()
    importance = permutation_importance(
        pipeline.model.pipeline,
        frame[FEATURES],
        frame["target"],
        scoring="roc_auc",
        n_repeats=5,
        random_state=0,
    ).importances_mean
    ranked = sorted(zip(importance, FEATURES, strict=True), reverse=True)
    assert ranked[0][1] == SHIFTED
    assert ranked[0][0] > 2 * ranked[1][0]
    # The shift is in the feature's distribution: its spread shrinks to the overlap.
    day = pipeline.days[DAY_A][SHIFTED]
    assert day.std() < 0.5 * frame[SHIFTED].std()


def test_covariate_shift_is_emailed_from_the_estimate_before_any_label(
    pipeline: Pipeline, maildir: Path
) -> None:
    p, day = pipeline, pipeline.days[DAY_A]
    before = set(maildir.glob("*.eml"))

    # The daily check as the scheduler runs it, and the scheduler's delivery of its alert.
    (result,) = check_day(p.settings, p.model, DAY_A, p.client)
    assert result.alerting
    assert deliver_pending(p.settings) == 1
    # The e-mail is there, and no label of the day has been sent yet.
    (mail,) = p.mails(maildir, before, DAY_A)
    assert p.count("SELECT count() FROM {db}.labels WHERE startsWith(id, 'a')") == 0
    rows = performance_rows(p, DAY_A)
    reference = p.model.metadata["metrics"]
    assert ("roc_auc", "realised") not in rows
    estimated, judged = rows[("roc_auc", "estimated")], rows[("roc_auc", "reference")]
    assert estimated["n"] == N_A and estimated["coverage"] == 0.0
    assert judged["level"] == "alert" and estimated["value"] < judged["band_low"]
    assert rows[("accuracy", "estimated")]["value"] < reference["accuracy"]
    line = first_line(mail)
    assert line.startswith(f"High severity: Model cancer performed worse on {DAY_A}: ")
    assert f"Version: {p.model.version}" in " ".join(plain_text(mail).split())
    assert (
        f"estimated ROC AUC fell from {reference['roc_auc']:.3f} to {estimated['value']:.3f}, "
        f"below the band [{judged['band_low']:.3f}, {judged['band_high']:.3f}]"
    ) in line
    drift = dict(
        p.client.execute(
            f"SELECT feature, level FROM {p.database}.drift_checks FINAL "
            "WHERE check_kind = 'daily' AND period_start = %(s)s",
            {"s": datetime(DAY_A.year, DAY_A.month, DAY_A.day)},
        )
    )
    assert drift[SHIFTED] == "drift"

    # The labels come, through a plain Kafka client, three days later.
    produce_raw(
        p.settings,
        [
            (rid.encode(), label_json(rid, int(y), DAY_A + timedelta(days=3)))
            for rid, y in zip(day["id"], day["target"], strict=True)
        ],
        p.settings.topics.labels,
    )
    p.wait_for_labels("a", N_A)
    recheck_performance(p.settings, DAY_A, p.client, p.locator)
    labelled = performance_rows(p, DAY_A)
    check_realised(labelled, stored_truth(p, "a"))
    for metric in ("roc_auc", "accuracy"):
        realised, estimate = labelled[(metric, "realised")], labelled[(metric, "estimated")]
        # The performance really fell, and the estimate's band holds the realised figure.
        assert realised["value"] < reference[metric]
        assert estimate["band_low"] <= realised["value"] <= estimate["band_high"], metric
    assert labelled[("roc_auc", "realised")]["level"] == "alert"


def test_concept_shift_is_seen_only_once_labels_arrive_and_late_labels_send_nothing(
    pipeline: Pipeline, maildir: Path, tmp_path: Path
) -> None:
    p, day = pipeline, pipeline.days[DAY_B]
    texture = cancer()["mean_texture"]
    # The concept shift: for the most textured tumours, the label rule is now the opposite.
    flipped = day["mean_texture"] > texture.quantile(0.7)
    truth = np.where(flipped, 1 - day["target"], day["target"])
    assert 0.2 < flipped.mean() < 0.4
    before = set(maildir.glob("*.eml"))

    # No label yet: the inputs look like the training data, so the estimate does not move,
    # and no alert is published.
    (result,) = check_day(p.settings, p.model, DAY_B, p.client)
    assert not result.alerting and result.performance is not None
    blind = performance_rows(p, DAY_B)
    for metric in ("roc_auc", "accuracy"):
        estimated, judged = blind[(metric, "estimated")], blind[(metric, "reference")]
        assert estimated["level"] != "alert" and judged["level"] != "alert"
        assert estimated["value"] >= judged["band_low"]

    # The first labels, two days later: most through the CLI, some through the bridge.
    ids = list(day["id"])
    when = DAY_B + timedelta(days=2)
    by_file, by_bridge = range(0, 300), range(300, FIRST_B)
    labels_file = tmp_path / "labels.jsonl"
    labels_file.write_bytes(b"\n".join(label_json(ids[k], int(truth[k]), when) for k in by_file))
    p.cli("produce", "--labels", str(labels_file), "--quiet")
    answer = httpx.post(
        f"{p.bridge.url}/v1/labels",
        headers={"X-API-Key": API_KEY},
        json=[orjson.loads(label_json(ids[k], int(truth[k]), when)) for k in by_bridge],
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    assert len(answer.json()["accepted"]) == len(by_bridge)
    p.wait_for_labels("b", FIRST_B)

    # Checking the day again (the one-shot CLI): the realised metrics alert, one e-mail.
    said = p.cli("drift-check", "--date", DAY_B.isoformat()).stderr
    assert f"performance {DAY_B}, model cancer@{p.model.version}: realised accuracy fell" in said
    early = performance_rows(p, DAY_B)
    check_realised(early, stored_truth(p, "b"))
    assert early[("accuracy", "realised")]["level"] == "alert"
    assert early[("accuracy", "reference")]["level"] == "alert"
    assert early[("accuracy", "estimated")]["value"] == blind[("accuracy", "estimated")]["value"]
    (mail,) = p.mails(maildir, before, DAY_B)
    assert "realised accuracy fell from" in first_line(mail)

    # The rest a week after the day, through Kafka; the scheduler's daily run a week after
    # the day re-checks the 7 days before its own: the figures change, no second e-mail.
    late = DAY_B + timedelta(days=LABEL_WINDOW_DAYS)
    produce_raw(
        p.settings,
        [(ids[k].encode(), label_json(ids[k], int(truth[k]), late)) for k in range(FIRST_B, N_B)],
        p.settings.topics.labels,
    )
    p.wait_for_labels("b", N_B)
    scheduler = DriftCheckScheduler(p.settings, p.model)
    scheduler._recheck_labelled(late, p.client, p.locator)
    assert deliver_pending(p.settings) == 0
    assert delivery_caught_up(p.settings)  # it saw every alert published, and sent none
    after = performance_rows(p, DAY_B)
    check_realised(after, stored_truth(p, "b"))
    assert after[("accuracy", "realised")]["n"] == N_B
    assert after[("accuracy", "realised")]["value"] != early[("accuracy", "realised")]["value"]
    assert after[("accuracy", "realised")]["coverage"] == 1.0
    assert len(p.mails(maildir, before, DAY_B)) == 1


def test_hostile_labels_are_rejected_with_reasons_and_good_ones_land(pipeline: Pipeline) -> None:
    p, day = pipeline, pipeline.days[DAY_C]
    ids, truth = list(day["id"]), [int(v) for v in day["target"]]
    when = DAY_C + timedelta(days=1)

    def good(k: int) -> dict[str, Any]:
        return orjson.loads(label_json(ids[k], truth[k], when))

    # The bridge: good labels, one of the wrong type for a binary model (it cannot know the
    # model's kind: the daily check judges it), one for an id never scored, and two it
    # refuses at once.
    answer = httpx.post(
        f"{p.bridge.url}/v1/labels",
        headers={"X-API-Key": API_KEY},
        json=[
            *(good(k) for k in range(20)),
            {"id": ids[20], "label": "benign"},
            {"id": "ghost-1", "label": 1},
            {"id": ids[21], "label": [1]},
            {"id": ids[22]},
        ],
        timeout=30,
    )
    assert answer.status_code == 207, answer.text
    refused = {r["id"]: r["reason"] for r in answer.json()["rejected"]}
    assert refused == {ids[21]: "wrong_type", ids[22]: "missing_field"}
    broken = httpx.post(
        f"{p.bridge.url}/v1/labels",
        headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
        content=b'{"id": "c23", "label": 1',
        timeout=30,
    )
    assert broken.status_code == 400
    assert broken.headers["content-type"].startswith("application/problem+json")

    # Kafka: malformed JSON twice, not an object, an object label, a class the model lacks,
    # an id never scored.
    produce_raw(
        p.settings,
        [
            (ids[23].encode(), b'{"id": "' + ids[23].encode() + b'", "label": 1'),
            (None, b"this is not json"),
            (None, b"[1, 2]"),
            (ids[24].encode(), orjson.dumps({"id": ids[24], "label": {"class": 1}})),
            (ids[25].encode(), orjson.dumps({"id": ids[25], "label": "maybe"})),
            (b"ghost-2", orjson.dumps({"id": "ghost-2", "label": 0})),
            *((ids[k].encode(), orjson.dumps(good(k))) for k in range(26, N_C)),
        ],
        p.settings.topics.labels,
    )

    landed = 20 + (N_C - 26)
    # The good ones land, and so (for now) do the two of the wrong type and the two whose
    # record was never scored: the sink cannot judge them alone.
    p.wait_for_labels("c", landed + 2)
    p.wait_for("SELECT count() FROM {db}.labels FINAL WHERE startsWith(id, 'ghost')", 2)
    stored = dict(
        p.client.execute(
            f"SELECT id, label FROM {p.database}.labels FINAL WHERE startsWith(id, 'c')"
        )
    )
    goods = [*range(20), *range(26, N_C)]
    assert {ids[k]: str(truth[k]) for k in goods}.items() <= stored.items()
    # Rejected at once by the sink's decoder.
    topic = p.settings.topics.labels
    at_once = {"invalid_json": 2, "not_an_object": 1, "wrong_type": 1}
    p.wait_for(
        "SELECT count() FROM {db}.rejected_records WHERE source_topic = %(t)s",
        sum(at_once.values()),
        {"t": topic},
    )

    # The daily labels check of the day they were received judges the type; the one a week
    # later rejects the labels whose record was never scored.
    today = datetime.now(UTC).date()
    mismatch = run_labels_check(p.settings, today, p.client, p.locator)
    assert mismatch is not None and mismatch.type_mismatch == 2
    orphans = run_labels_check(p.settings, today + timedelta(days=7), p.client, p.locator)
    assert orphans is not None and orphans.without_score == 2
    reasons = p.client.execute(
        f"SELECT reason, id, message FROM {p.database}.rejected_records "
        "WHERE source_topic = %(t)s ORDER BY reason, id",
        {"t": topic},
    )
    counted: dict[str, int] = {}
    for reason, _, message in reasons:
        counted[reason] = counted.get(reason, 0) + 1
        assert message
    assert counted == {**at_once, "label_type_mismatch": 2, "label_without_score": 2}
    judged = {(r, i) for r, i, _ in reasons if r.startswith("label_")}
    assert judged == {
        ("label_type_mismatch", ids[20]),
        ("label_type_mismatch", ids[25]),
        ("label_without_score", "ghost-1"),
        ("label_without_score", "ghost-2"),
    }

    # Only the good labels count in the day's realised figures.
    # (The verdict alone: day C's drift check could publish an alert the other tests
    # would then count.)
    check_performance(
        p.client, p.database, Period.day(DAY_C), "cancer", p.model.version, p.model_dir
    )
    rows = performance_rows(p, DAY_C)
    assert rows[("accuracy", "realised")]["n"] == landed
    good_rows = stored_truth(p, "c")
    good_rows = good_rows[good_rows["id"].isin([ids[k] for k in goods])]
    check_realised(rows, good_rows)
