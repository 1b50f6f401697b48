"""Who owns which partitions: the scoring workers' consumer group, as the broker sees it.

A worker that has just started is not scoring yet: it joins its group, waits for the
assignment and only then fetches. Records produced before that wait in Kafka, and their
latency (scored minus Kafka timestamp) counts the worker's start-up. :func:`wait_for_assignment`
asks the broker's group coordinator (DescribeGroups) until the group's members own every
partition of the topic, so that a caller (``scorestream demo``) produces only then.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from scorestream.exceptions import ScorestreamError

#: The agent engine's consumer group, under the topic prefix (Faust's own group is the app's).
SCORING_GROUP = "scorestream-scoring"


#: The Faust engine's group: the Faust app's id, under the topic prefix.
FAUST_GROUP = "scorestream-worker"
#: The sink's default consumer group (``scorestream sink --group-id`` overrides it).
SINK_GROUP = "scorestream-sink"


def scoring_group(topic_prefix: str) -> str:
    """The consumer group of the scoring workers (agent engine) under ``topic_prefix``."""
    return f"{topic_prefix}{SCORING_GROUP}"


def worker_groups(topic_prefix: str) -> list[str]:
    """Every group that may consume the records topic: the direct and the Faust engine's."""
    return [scoring_group(topic_prefix), f"{topic_prefix}{FAUST_GROUP}"]


def sink_group(topic_prefix: str) -> str:
    """The sink's default consumer group under ``topic_prefix``."""
    return f"{topic_prefix}{SINK_GROUP}"


def owned_partitions(
    description: Mapping[str, Any], topic: str, by: str = "member_id"
) -> dict[str, list[int]]:
    """Member id (or ``by`` another member field, e.g. ``group_instance_id``) -> partitions of
    ``topic`` it owns, from one DescribeGroups entry.

    Empty unless the group is ``Stable``: during a rebalance the members' old assignments
    are still listed, but nobody fetches.

    >>> owned_partitions({"group_state": "Stable", "members": [{"member_id": "w-1",
    ...     "member_assignment": {"assigned_partitions": [
    ...         {"topic": "records", "partitions": [2, 0]},
    ...         {"topic": "other", "partitions": [1]}]}}]}, "records")
    {'w-1': [0, 2]}
    >>> owned_partitions({"group_state": "PreparingRebalance", "members": []}, "records")
    {}
    """
    if description.get("group_state") != "Stable":
        return {}
    owned: dict[str, list[int]] = {}
    for member in description.get("members") or []:
        assignment = member.get("member_assignment") or {}
        if not isinstance(assignment, Mapping):  # a group of another protocol (not consumers)
            continue
        for entry in assignment.get("assigned_partitions") or []:
            if entry.get("topic") == topic:
                owned[str(member.get(by))] = sorted(entry.get("partitions") or [])
    return owned


def wait_for_assignment(
    bootstrap_servers: str,
    group_id: str,
    topic: str,
    *,
    timeout_s: float = 120.0,
    alive: Callable[[], bool] | None = None,
    poll_s: float = 0.5,
) -> dict[str, list[int]]:
    """Block until the members of ``group_id`` together own every partition of ``topic``.

    Parameters
    ----------
    bootstrap_servers
        Kafka brokers (``host:port,...``).
    group_id, topic
        The consumer group and the topic it must have taken (the topic must exist).
    timeout_s
        How long to wait.
    alive
        Called between two looks: False (the process that should join has exited) ends
        the wait at once.
    poll_s
        Seconds between two DescribeGroups requests.

    Returns
    -------
    dict
        Member id -> the partitions of ``topic`` it owns.

    Raises
    ------
    ScorestreamError
        When ``alive`` says False, or when the group has not taken every partition within
        ``timeout_s`` (the message says what it owned last).
    """
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="scorestream-admin")
    try:
        (described,) = admin.describe_topics([topic])
        every = {int(p["partition_index"]) for p in described["partitions"]}
        if not every:
            raise ScorestreamError(f"topic {topic} has no partitions (does it exist?)")
        deadline = time.monotonic() + timeout_s
        owned: dict[str, list[int]] = {}
        while True:
            if alive is not None and not alive():
                raise ScorestreamError(f"the process that should join {group_id} exited")
            owned = owned_partitions(admin.describe_groups([group_id])[group_id], topic)
            if {p for partitions in owned.values() for p in partitions} >= every:
                return owned
            if time.monotonic() >= deadline:
                break
            time.sleep(poll_s)
    finally:
        admin.close()
    raise ScorestreamError(
        f"consumer group {group_id} did not take the {len(every)} partitions of {topic} "
        f"within {timeout_s:.0f} s (owned: {owned or 'none'})"
    )
