"""The shapes that cross between processes: messages on the topics and rows in the tables.

Both ends import them from here (the worker encodes, the sink decodes, the bridge and the
tests read), so a field is added in one place: the message here, its column in
:mod:`.tables`, and one migration.
"""

from scorestream.contract.alerts import AlertMessage, decode_alert
from scorestream.contract.codec import Row
from scorestream.contract.drift import (
    MINUTE_MS,
    DriftBinsMessage,
    DriftChangeMessage,
    MinuteFeatureStats,
    decode_drift_rows,
    model_id,
    split_bins,
)
from scorestream.contract.labels import LabelMessage, decode_label_row
from scorestream.contract.rejections import (
    MAX_REJECTED_PAYLOAD_BYTES,
    REJECTED_MAX_MESSAGE_BYTES,
    RejectionMessage,
    decode_rejection_row,
)
from scorestream.contract.scores import ScoreMessage, decode_score_row
from scorestream.contract.tables import (
    ALERT_DELIVERIES,
    CHALLENGER_SCORES,
    DRIFT_CHECKS,
    DRIFT_EVENTS,
    DRIFT_STATS,
    LABELS,
    MODEL_COMPARISONS,
    MODEL_PERFORMANCE,
    REJECTED_RECORDS,
    SCORES,
    TABLES,
    Column,
    TableSpec,
)

__all__ = [
    "ALERT_DELIVERIES",
    "CHALLENGER_SCORES",
    "DRIFT_CHECKS",
    "DRIFT_EVENTS",
    "DRIFT_STATS",
    "LABELS",
    "MAX_REJECTED_PAYLOAD_BYTES",
    "MINUTE_MS",
    "MODEL_COMPARISONS",
    "MODEL_PERFORMANCE",
    "REJECTED_MAX_MESSAGE_BYTES",
    "REJECTED_RECORDS",
    "SCORES",
    "TABLES",
    "AlertMessage",
    "Column",
    "DriftBinsMessage",
    "DriftChangeMessage",
    "LabelMessage",
    "MinuteFeatureStats",
    "RejectionMessage",
    "Row",
    "ScoreMessage",
    "TableSpec",
    "decode_alert",
    "decode_drift_rows",
    "decode_label_row",
    "decode_rejection_row",
    "decode_score_row",
    "model_id",
    "split_bins",
]
