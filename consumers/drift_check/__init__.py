"""The daily drift check, on the consumer side: it reads ClickHouse and publishes alerts.

- :mod:`.check`: sum a period's bins, test every feature, write ``drift_checks`` rows;
- :mod:`.publish`: the ``drift.alerts`` message of a check, and publishing it;
- :mod:`.schedule`: one day on demand, or the scheduler (cron, catch-up, rolling windows).

The statistics themselves are :mod:`scorestream.streams.drift` (pure mathematics, shared
with the worker's counting); e-mailing an alert is :mod:`scorestream.consumers.alerting`.
"""
