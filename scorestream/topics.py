"""Create the contract's topics before anything reads or writes them."""

from __future__ import annotations

import logging

from scorestream.contract.rejections import REJECTED_MAX_MESSAGE_BYTES
from scorestream.settings import Settings

log = logging.getLogger(__name__)


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Per-topic configuration that differs from the broker's defaults."""
    return {settings.topics.rejected: {"max.message.bytes": str(REJECTED_MAX_MESSAGE_BYTES)}}


def ensure_topics(settings: Settings, names: list[str] | None = None) -> list[str]:
    """Create missing topics with ``topic_partitions`` partitions; return those created.

    Idempotent and safe to run from several processes at once: a topic created by
    someone else between our listing and our request is not an error.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    wanted = names or settings.topics.all()
    configs = topic_configs(settings)
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, client_id="scorestream-admin"
    )
    try:
        missing = [name for name in wanted if name not in set(admin.list_topics())]
        created: list[str] = []
        for name in missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            name,
                            settings.topic_partitions,
                            settings.topic_replication,
                            topic_configs=configs.get(name, {}),
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
