"""The sink as a process: garbage collector tuning and signal handling around the runner."""

from __future__ import annotations

import asyncio
import gc

from scorestream.consumers.sink.options import SinkOptions, SinkStats
from scorestream.consumers.sink.runner import SinkRunner
from scorestream.settings import Settings


def tune_gc() -> None:
    """Fewer, cheaper garbage collections, for a process that is mostly the sink.

    A batch is tens of thousands of short-lived row tuples: with CPython's default
    thresholds the collector runs hundreds of times per batch and its full passes scan every
    live object, which halves the sink's throughput. Objects alive at start-up are frozen
    (never scanned again) and the youngest generation is collected every 50,000 allocations.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def run_sink(settings: Settings, options: SinkOptions | None = None) -> SinkStats:
    """Run the sink in this thread until SIGTERM/SIGINT (or drained, with ``once``).

    Tunes the garbage collector for the process (:func:`tune_gc`).
    """
    import signal

    tune_gc()

    async def main() -> SinkStats:
        runner = SinkRunner(settings, options)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, runner.request_stop)
        try:
            return await runner.run()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)

    return asyncio.run(main())
