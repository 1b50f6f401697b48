"""The repeat filter: one line per distinct warning or error per interval, repeats counted."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from scorestream.log_limit import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def logged(clock: Clock) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RepeatFilter(interval_s=10.0, clock=clock))
    logger = logging.getLogger("test.log_limit")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_repeats_within_the_interval_are_dropped_and_counted_in_the_next_line(
    logged: tuple[logging.Logger, io.StringIO], clock: Clock
) -> None:
    logger, stream = logged
    for attempt in range(1, 501):  # an outage: 50 errors a second for 10 s
        logger.error("Unable connect to node with id %d: attempt %d", 1, attempt)
        clock.now += 0.02
    assert lines(stream) == ["ERROR test.log_limit: Unable connect to node with id 1: attempt 1"]
    clock.now += 0.1  # 10.08 s after the first line
    logger.error("Unable connect to node with id %d: attempt %d", 1, 501)
    assert lines(stream)[1] == (
        "ERROR test.log_limit: Unable connect to node with id 1: attempt 501 "
        "(and 499 more like this in the last 10 s)"
    )
    assert len(lines(stream)) == 2


def test_distinct_messages_levels_and_loggers_each_get_their_line(
    logged: tuple[logging.Logger, io.StringIO], clock: Clock
) -> None:
    logger, stream = logged
    for _ in range(3):
        logger.error("metadata request failed: %s", "KafkaConnectionError")
        logger.error("metadata request failed: %s", "RequestTimedOutError")
        logger.warning("metadata request failed: %s", "KafkaConnectionError")
        logging.getLogger("test.log_limit.other").error("metadata request failed")
    assert lines(stream) == [
        "ERROR test.log_limit: metadata request failed: KafkaConnectionError",
        "ERROR test.log_limit: metadata request failed: RequestTimedOutError",
        "WARNING test.log_limit: metadata request failed: KafkaConnectionError",
        "ERROR test.log_limit.other: metadata request failed",
    ]


def test_info_and_debug_always_pass(
    logged: tuple[logging.Logger, io.StringIO], clock: Clock
) -> None:
    logger, stream = logged
    for offset in range(5):
        logger.info("flush scores [0: %d]: 100 rows", offset)
        logger.debug("fetched")
    assert len(lines(stream)) == 10


def test_a_message_seen_again_after_a_quiet_interval_has_no_count(
    logged: tuple[logging.Logger, io.StringIO], clock: Clock
) -> None:
    logger, stream = logged
    logger.warning("create topics failed; retry 1 in 0.5 s")
    clock.now += 60
    logger.warning("create topics failed; retry 1 in 0.5 s")
    assert lines(stream) == ["WARNING test.log_limit: create topics failed; retry 1 in 0.5 s"] * 2


def test_memory_is_bounded_by_distinct_messages(clock: Clock) -> None:
    repeat = RepeatFilter(clock=clock, max_messages=50)
    for i in range(1000):
        record = logging.LogRecord(
            "x",
            logging.ERROR,
            __file__,
            1,
            f"error {chr(65 + i % 26)}{chr(65 + i // 26 % 26)}",
            None,
            None,
        )
        assert repeat.filter(record)
    assert len(repeat._seen) == 50
