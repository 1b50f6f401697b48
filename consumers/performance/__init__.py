"""Realised model performance from the stored scores and labels.

- :mod:`.queries`: join ``scores`` (or ``challenger_scores``) to ``labels`` by id in
  ClickHouse and return the mergeable pieces of :mod:`scorestream.streams.performance` per
  (model, version, day).
"""
