"""Alert delivery: consume ``drift.alerts``, e-mail each alert once, annotate Grafana.

- :mod:`.delivery`: the consumer, the ``alert_deliveries`` log and SMTP sending;
- :mod:`.email_message`: the e-mail itself, for the team that acts on it: the verdict with
  its severity, the model, each drifted feature in plain words, the effect on the model's
  output, what to do next (see its docstring for the modules it is built from);
- :mod:`.preview`: ``docs/email-alert.png``, the e-mail as a reader sees it.

Alerts are published by :mod:`scorestream.consumers.drift_check.publish`.
"""
