"""The scorestream exception tree: catch :class:`ScorestreamError` to catch them all."""


class ScorestreamError(Exception):
    """Base class of every error scorestream raises on purpose."""


class StackError(ScorestreamError):
    """The local stack could not be installed, started or stopped."""


class MissingToolError(StackError):
    """A program the local stack needs (Java, Maven, clickhouse-server) is absent."""


class ModelError(ScorestreamError):
    """A model directory is missing, incomplete or could not be loaded safely."""


class SchemaError(ScorestreamError):
    """A record or data set does not match the model's feature schema."""


class MigrationError(ScorestreamError):
    """A ClickHouse schema migration failed."""


class DeliveryError(ScorestreamError):
    """A message could not be delivered (Kafka, ClickHouse or SMTP) after retries."""


class DeliveryRefusedError(DeliveryError):
    """The receiving server refused for good (an SMTP 5xx reply): retrying cannot help."""


class SmtpUnavailableError(DeliveryError):
    """The SMTP server stayed unreachable (or answered 4xx) longer than the caller would wait:
    the alert stays pending; a later run sends it."""


class AlertsPendingError(DeliveryError):
    """Alerts on ``drift.alerts`` stay undelivered after a one-shot delivery (``pending``: how
    many messages, -1 if unknown); another member or the next run delivers them."""

    def __init__(self, message: str, pending: int, sent: int) -> None:
        super().__init__(message)
        self.pending = pending
        self.sent = sent


class SinkBackpressureError(DeliveryError):
    """ClickHouse cannot take a batch now; the sink rewinds, pauses and retries later."""


class ConfigurationError(ScorestreamError, ValueError):
    """A setting, option or input file given by the user is invalid."""


class DecodeError(ScorestreamError, ValueError):
    """A message does not have the shape its topic promises (``field``: the culprit).

    ``reason`` is a machine-readable reason for ``rejected_records`` when the decoder has a
    more precise one than "the sink could not decode it" (the labels decoder does).
    """

    def __init__(self, message: str, field: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


class DataError(SchemaError, ValueError):
    """A DataFrame given to the Python API cannot be profiled or compared (no rows, ...)."""
