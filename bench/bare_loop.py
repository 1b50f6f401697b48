"""The ceiling of a worker on this machine: consume → produce → commit, no scoring at all.

The same clients and settings as the agent engine (aiokafka consumer, ``getmany`` batches,
:class:`~scorestream.streams.publishing.BatchPublisher` with ``acks=all`` and idempotence,
commit after the acknowledgements, the same garbage collector settings), each record's
bytes copied unchanged to ``scores``.
Runs until ``--records`` records were copied.

    python -m bench.bare_loop --records 100000   # settings from the environment
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path

from scorestream.settings import Settings
from scorestream.streams import collector
from scorestream.streams.app import WorkerOptions
from scorestream.streams.publishing import RECORDS_FETCH, BatchPublisher, output_producer
from scorestream.streams.scoring import OutputMessage

#: The bare loop's consumer group (not the workers').
GROUP = "{prefix}bare-loop"


def spawn(
    settings: Settings, log: Path, args: list[str], code: Path | None = None
) -> subprocess.Popen[bytes]:
    """This loop in a child process on ``settings`` with ``args`` (``code``: that checkout's
    copy), its output in ``log``, in a session of its own (stopped as a process group)."""
    from bench.common import env_for

    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bench.bare_loop", *args],
            env=env_for(settings, code),
            cwd=code,  # python -m puts the working directory ahead of PYTHONPATH
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def copy(settings: Settings, records: int, batch_size: int) -> None:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        settings.topics.records,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=GROUP.format(prefix=settings.topic_prefix),
        **RECORDS_FETCH,
    )
    producer = output_producer(settings.kafka_bootstrap_servers)
    publisher = BatchPublisher(producer)
    await consumer.start()
    await producer.start()
    collector.settle()  # as the worker does: the ceiling gets what the worker gets
    copied = 0
    try:
        while copied < records:
            polled = await consumer.getmany(timeout_ms=200, max_records=batch_size)
            outputs = [
                (settings.topics.scores, OutputMessage(r.key or b"", r.value or b""))
                for batch in polled.values()
                for r in batch
            ]
            if not outputs:
                continue  # nothing fetched in time (joining the group): nothing to commit
            await publisher.publish(outputs)
            await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in polled.items() if rs})
            copied += len(outputs)
    finally:
        await producer.stop()
        await consumer.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, required=True)
    # The worker's default: the ceiling polls and publishes batches as large as the worker's.
    parser.add_argument("--batch-size", type=int, default=WorkerOptions().batch_size)
    args = parser.parse_args(argv)
    asyncio.run(copy(Settings(), args.records, args.batch_size))


if __name__ == "__main__":
    main()
