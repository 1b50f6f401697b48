"""Waiting until the scoring worker owns its partitions, asked of the real broker."""

from __future__ import annotations

import time

import pytest

from scorestream.consumer_groups import scoring_group, wait_for_assignment
from scorestream.exceptions import ScorestreamError
from scorestream.settings import Settings
from scorestream.topics import ensure_topics
from tests.fixtures.worker import WorkerFactory


def test_an_empty_group_times_out_saying_what_it_owned(settings: Settings) -> None:
    ensure_topics(settings, [settings.topics.records])
    started = time.monotonic()
    with pytest.raises(ScorestreamError, match=r"did not take the 4 partitions .*\(owned: none\)"):
        wait_for_assignment(
            settings.kafka_bootstrap_servers,
            scoring_group(settings.topic_prefix),
            settings.topics.records,
            timeout_s=1.0,
            poll_s=0.2,
        )
    assert time.monotonic() - started >= 1.0


def test_a_process_that_exited_ends_the_wait(settings: Settings) -> None:
    ensure_topics(settings, [settings.topics.records])
    with pytest.raises(ScorestreamError, match="exited"):
        wait_for_assignment(
            settings.kafka_bootstrap_servers,
            scoring_group(settings.topic_prefix),
            settings.topics.records,
            timeout_s=60,
            alive=lambda: False,
        )


def test_a_missing_topic_is_named(settings: Settings) -> None:
    with pytest.raises(ScorestreamError, match="no partitions"):
        wait_for_assignment(
            settings.kafka_bootstrap_servers,
            scoring_group(settings.topic_prefix),
            f"{settings.topic_prefix}absent",
            timeout_s=1,
        )


def test_returns_once_the_worker_owns_every_partition(
    settings: Settings, start_worker: WorkerFactory
) -> None:
    ensure_topics(settings)
    worker = start_worker()
    owned = wait_for_assignment(
        settings.kafka_bootstrap_servers,
        scoring_group(settings.topic_prefix),
        settings.topics.records,
        timeout_s=120,
        alive=lambda: worker.poll() is None,
    )
    assert worker.poll() is None
    # One worker: one member of the group, holding all four partitions.
    assert list(owned.values()) == [[0, 1, 2, 3]]
