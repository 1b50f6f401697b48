"""Estimated performance before labels arrive: confidence-based estimation (CBPE).

- :mod:`.calibration`: the score -> probability map fitted on held-out rows at train or
  register time, stored as ``calibration.json`` in the model directory;
- :mod:`.histogram`: a day's scores as fine, mergeable counts (one aggregate query);
- :mod:`.cbpe`: the expected metrics and their band from those counts.
"""
