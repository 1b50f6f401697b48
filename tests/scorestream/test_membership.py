"""Static membership: a worker or sink killed with SIGKILL and restarted takes its partitions
back at once, not after the dead member's session timed out.

The session timeout is set long here (45 s) so that the difference cannot be the machine's
speed: with dynamic membership the restarted process cannot own anything before the dead
member's session expired (session timeout minus at most one heartbeat interval after the
kill); with static membership it owns the partitions as soon as it has started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from scorestream.consumer_groups import scoring_group, sink_group
from scorestream.membership import claim_instance_id, heartbeat_interval_ms
from scorestream.settings import Settings
from scorestream.streams.synthetic import generate_records
from scorestream.topics import ensure_topics
from tests.consumers.clickhouse_sink_support import produce, score_messages, sink_process
from tests.fixtures.worker import WorkerFactory
from tests.kafka_io import collect, produce_raw
from tests.waiting import wait_for

SESSION_TIMEOUT_S = 45.0
#: A dynamic member's restart cannot take partitions back before this, counted from the kill.
DYNAMIC_EARLIEST_S = SESSION_TIMEOUT_S - heartbeat_interval_ms(SESSION_TIMEOUT_S) / 1000

_CLAIM = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from scorestream.membership import claim_instance_id\n"
    "print(claim_instance_id('g.1', directory=Path(sys.argv[1]), host='h'), flush=True)\n"
    "time.sleep(120)\n"
)


def _claimer(directory: Path) -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _CLAIM, str(directory)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    return child, child.stdout.readline().strip()


def test_a_killed_process_slot_goes_to_its_replacement_and_live_ones_are_unique(
    tmp_path: Path,
) -> None:
    first, first_id = _claimer(tmp_path)
    try:
        second, second_id = _claimer(tmp_path)
        try:
            # This process is a third live member: the next free slot.
            assert (first_id, second_id) == ("h-0", "h-1")
            assert claim_instance_id("g.1", directory=tmp_path, host="h") == "h-2"
            assert claim_instance_id("other group", directory=tmp_path, host="h") == "h-0"
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            replacement, replacement_id = _claimer(tmp_path)
            replacement.kill()
            replacement.wait(10)
            assert replacement_id == "h-0"  # the killed one's id, not a new one
        finally:
            second.kill()
            second.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)


def _members(settings: Settings, group: str, topics: set[str]) -> dict[str, tuple[str, set]]:
    """Member id -> (instance id, the (topic, partition)s it owns), when the group is stable."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        description = admin.describe_groups([group])[group]
    finally:
        admin.close()
    if description.get("group_state") != "Stable":
        return {}
    members: dict[str, tuple[str, set]] = {}
    for member in description.get("members") or []:
        assignment = member.get("member_assignment") or {}
        owned = {
            (entry["topic"], p)
            for entry in assignment.get("assigned_partitions") or []
            if entry["topic"] in topics
            for p in entry.get("partitions") or []
        }
        members[str(member["member_id"])] = (str(member.get("group_instance_id")), owned)
    return members


def _wait(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    return wait_for(predicate, what, timeout_s, every_s=0.2)


def _kill_and_restart(
    settings: Settings,
    group: str,
    topics: set[str],
    every: int,
    start: Callable[[], subprocess.Popen[bytes]],
) -> tuple[float, str]:
    """Start, wait until it owns all ``every`` partitions, SIGKILL, start again; return the
    seconds from the kill until the new process owned them all, and the instance id."""
    process = start()

    def one_owner(exclude: set[str]) -> dict[str, tuple[str, set]]:
        members = _members(settings, group, topics)
        fresh = {m: v for m, v in members.items() if m not in exclude and len(v[1]) == every}
        return fresh

    before = _wait(lambda: one_owner(set()), 120, f"{group} to own {every} partitions")
    ((old_member, (instance, _)),) = before.items()
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
    killed_at = time.monotonic()
    start()
    after = _wait(lambda: one_owner({old_member}), 120, "the restarted member's partitions")
    took = time.monotonic() - killed_at
    ((_, (new_instance, _)),) = after.items()
    assert new_instance == instance
    return took, instance


def test_a_restarted_worker_takes_its_partitions_back_before_the_session_times_out(
    settings: Settings, start_worker: WorkerFactory
) -> None:
    ensure_topics(settings)
    records = settings.topics.records
    took, instance = _kill_and_restart(
        settings,
        scoring_group(settings.topic_prefix),
        {records},
        settings.topic_partitions,
        lambda: start_worker("--session-timeout", str(SESSION_TIMEOUT_S)),
    )
    print(f"worker {instance}: partitions back {took:.1f} s after the kill")
    assert took < DYNAMIC_EARLIEST_S, (
        f"{took:.1f} s: waited for the dead member's {SESSION_TIMEOUT_S:.0f} s session"
    )
    # And it scores what arrives now.
    valid = [
        r for chunk in generate_records(200, 5, 200, start="2026-03-02T00:00:00") for r in chunk
    ]
    produce_raw(settings, [(str(r["id"]).encode(), orjson.dumps(r)) for r in valid])
    scored = collect(settings, settings.topics.scores, until=lambda m: len(m) >= 200)
    assert {m["id"] for m in scored} >= {r["id"] for r in valid}


def test_a_restarted_sink_takes_its_partitions_back_before_the_session_times_out(
    settings: Settings, settings_env: dict[str, str], ch_client: Any, tmp_path: Path
) -> None:
    from scorestream.consumers.sink.decoders import topic_decoders

    ensure_topics(settings)
    topics = set(topic_decoders(settings))
    ensure_topics(settings, sorted(topics))
    log = tmp_path / "sink.log"
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        started.append(sink_process(settings_env, log, "--session-timeout", str(SESSION_TIMEOUT_S)))
        return started[-1]

    try:
        took, instance = _kill_and_restart(
            settings,
            sink_group(settings.topic_prefix),
            topics,
            len(topics) * settings.topic_partitions,
            start,
        )
        _sink_stores_what_arrives(settings, ch_client)
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
    print(f"sink {instance}: partitions back {took:.1f} s after the kill")
    assert took < DYNAMIC_EARLIEST_S, (
        f"{took:.1f} s: waited for the dead member's {SESSION_TIMEOUT_S:.0f} s session"
    )


def _sink_stores_what_arrives(settings: Settings, ch_client: Any) -> None:
    produce(settings, settings.topics.scores, score_messages(0, 500))
    database = settings.clickhouse.database

    def stored() -> bool:
        try:
            rows = ch_client.execute(f"SELECT count() FROM {database}.scores FINAL")
        except Exception:  # the table may not exist yet
            return False
        return bool(rows[0][0] == 500)

    _wait(stored, 60, "500 scores stored by the restarted sink")
