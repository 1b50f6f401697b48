"""Histogram buckets shared by the processes' latency series."""

from __future__ import annotations

#: Seconds, from a millisecond (a loopback request, a small batch on an idle worker) to
#: thirty seconds (a slow model, a score timeout, a broker outage).
SECONDS_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
