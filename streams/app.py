"""The Faust application of the scoring worker.

One app per consumer group: every worker started with the same settings joins the same
group and takes its share of the ``records`` partitions, so throughput scales with
partitions and workers (see README, "Scaling out").
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import faust

from scorestream.consumer_groups import FAUST_GROUP
from scorestream.contract.rejections import REJECTED_MAX_MESSAGE_BYTES
from scorestream.membership import heartbeat_interval_ms
from scorestream.settings import Settings


@dataclass(frozen=True)
class WorkerOptions:
    """Tuning of the scoring agent (CLI flags of ``scorestream worker``)."""

    #: At most this many records per batch: a poll returns what has arrived, so batches are
    #: this large only when records wait (a backlog), where scikit-learn's cost per call
    #: (about 15 ms for the demo pipeline, whatever the rows) is spread over more records.
    batch_size: int = 10_000
    batch_within_s: float = 0.2
    out_of_range: str = "reject"
    max_record_bytes: int = 65536
    engine: str = "agent"
    drift_flush_s: float = 15.0
    #: Seconds between two resolutions of the model references (0: never swap).
    model_poll_interval_s: float = 5.0
    #: Static group membership id (None: dynamic; the CLI claims ``<hostname>-<slot>``).
    instance_id: str | None = None
    #: A killed worker's partitions move to the others after this long (unless it is
    #: back first with the same instance id).
    session_timeout_s: float = 10.0


def faust_data_dir() -> Path:
    """Where Faust keeps its data directory: under the temporary directory, not the CWD.

    The worker keeps no table state (``store="memory://"``), so nothing there outlives a run;
    Faust still creates the directory, which used to litter the current directory.
    """
    directory = Path(tempfile.gettempdir()) / f"scorestream-{os.getuid()}"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # Faust makes only the last part
    return directory


def create_app(settings: Settings, options: WorkerOptions) -> faust.App:
    """A Faust app for ``settings``; agents are attached by :mod:`scorestream.streams.agents`."""
    app = faust.App(
        f"{settings.topic_prefix}{FAUST_GROUP}",
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap_servers.split(",")],
        value_serializer="raw",
        key_serializer="raw",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        web_enabled=False,
        # The buffer must hold at least one full batch, or take() stalls waiting for it.
        stream_buffer_maxsize=max(4 * options.batch_size, 8192),
        broker_commit_every=max(options.batch_size, 1000),
        broker_commit_interval=1.0,
        producer_acks=-1,
        producer_linger_ms=5,
        producer_max_batch_size=1_048_576,
        producer_max_request_size=REJECTED_MAX_MESSAGE_BYTES,
        consumer_auto_offset_reset="earliest",
        # A killed worker's partitions move to the survivors after this long, not 60 s;
        # a restart with the same instance id takes them back at once.
        consumer_group_instance_id=options.instance_id,
        broker_session_timeout=options.session_timeout_s,
        broker_heartbeat_interval=heartbeat_interval_ms(options.session_timeout_s) / 1000,
        store="memory://",
        # Faust formats "{conf.name}" itself: one directory per app (topic prefix).
        datadir=str(faust_data_dir() / "{conf.name}-data"),
        # Kafka checks CRCs on the broker; in pure Python it costs a few µs per record.
        broker_check_crcs=False,
    )
    return app
