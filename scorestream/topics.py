"""Create the contract's topics before anything reads or writes them."""

from __future__ import annotations

import logging

from scorestream.contract.rejections import REJECTED_MAX_MESSAGE_BYTES
from scorestream.settings import Settings

log = logging.getLogger(__name__)


#: Kafka's durability recipe: three copies, of which two must have a write (acks=all)
#: before it is acknowledged, so that one broker may die without losing or refusing it.
MAX_REPLICATION = 3


def replication_for(brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) of topics on ``brokers`` brokers.

    >>> replication_for(1), replication_for(2), replication_for(3), replication_for(5)
    ((1, 1), (2, 1), (3, 2), (3, 2))
    """
    replicas = min(MAX_REPLICATION, brokers)
    return replicas, min_insync_for(replicas)


def min_insync_for(replicas: int) -> int:
    """One replica may be down and writes still succeed; at most two must acknowledge."""
    return max(1, min(2, replicas - 1))


def topic_config(settings: Settings, name: str, replicas: int = 1) -> dict[str, str]:
    """Topic ``name``'s configuration that differs from the broker's defaults."""
    config = {"min.insync.replicas": str(min_insync_for(replicas))} if replicas > 1 else {}
    if name == settings.topics.rejected:
        config["max.message.bytes"] = str(REJECTED_MAX_MESSAGE_BYTES)
    return config


def ensure_topics(settings: Settings, names: list[str] | None = None) -> list[str]:
    """Create missing topics with ``topic_partitions`` partitions; return those created.

    Idempotent and safe to run from several processes at once: a topic created by
    someone else between our listing and our request is not an error.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    wanted = names or settings.topics.all()
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, client_id="scorestream-admin"
    )
    try:
        replicas = (
            settings.topic_replication
            or replication_for(len(admin.describe_cluster()["brokers"]))[0]
        )
        # Listed once: on a broker with thousands of topics (a benchmark's or a test run's)
        # each listing is a full metadata round trip.
        existing = set(admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        created: list[str] = []
        for name in missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            name,
                            settings.topic_partitions,
                            replicas,
                            topic_configs=topic_config(settings, name, replicas),
                        )
                    ]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        if created:
            log.info("created topics %s", ", ".join(created))
        return created
    finally:
        admin.close()
