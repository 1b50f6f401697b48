"""Alert delivery: consume ``drift.alerts``, e-mail each alert once, annotate Grafana.

- :mod:`.delivery`: the consumer, the ``alert_deliveries`` log and SMTP sending;
- :mod:`.email_message`: the e-mail itself (summary, table, one chart per drifted feature).

Alerts are published by :mod:`scorestream.consumers.drift_check.publish`.
"""
