"""Labels after they are stored: the daily labels check.

- :mod:`.check`: finds stored labels that no scored record matches after a grace period
  (``label_without_score``) or that do not fit the kind of the model that scored their
  record (``label_type_mismatch``), and writes each once to ``rejected_records``.

The sink stores every well-formed label as it comes (``scorestream.contract.labels``);
whether it matches a score can only be judged later, since labels may arrive before their
scores. Run by the daily drift check (:mod:`scorestream.consumers.drift_check.schedule`).
"""
