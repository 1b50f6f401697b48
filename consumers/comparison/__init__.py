"""Champion against challenger on the same records, per day and rolling window.

- :mod:`.compare`: join ``scores`` and ``challenger_scores`` by id in ClickHouse, compute
  agreement, score differences and PSI per (champion, challenger) pair, write
  ``model_comparisons`` rows.

Run by the drift check (:mod:`scorestream.consumers.drift_check.schedule`) after its own
checks of the same period.
"""
