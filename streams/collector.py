"""The garbage collector of a process that handles records in batches (worker, bare loop).

Everything built before the first batch lives as long as the process: :func:`gc.freeze`
puts it out of the collector's sight, so a full collection walks only what batches
allocate. A batch allocates tens of thousands of objects (decoded records, rows, output
tuples) and frees them by reference counting when it ends; with the default threshold
(700) the collector ran about 10 young collections per batch of 2,000 records, each walking
objects about to be freed anyway: 4 to 9% of the scoring time (measured with gc.callbacks).
A threshold far above one batch's allocations lets a batch's objects die before any
collection looks at them; cycles are still collected, a little later.
"""

from __future__ import annotations

import gc

#: Net allocations of tracked objects before a young collection (Python's default: 700),
#: and how many young (then middle) collections before an older one: the sink's and the
#: producer's settings too.
THRESHOLDS = (50_000, 20, 100)


def settle() -> None:
    """Freeze what exists now and raise the young threshold above a batch's allocations."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
