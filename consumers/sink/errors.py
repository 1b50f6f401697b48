"""Which ClickHouse errors mean "not now" (retry the batch) and which "not this row"."""

from __future__ import annotations

import struct

# Server error codes that say "not now" (or "the schema is missing") rather than "not this
# row": the batch is retried later instead of being bisected into rejections.
TRANSIENT_CODES = frozenset(
    {
        3,  # UNEXPECTED_END_OF_FILE
        16,  # NO_SUCH_COLUMN_IN_TABLE (schema being migrated)
        60,  # UNKNOWN_TABLE
        81,  # UNKNOWN_DATABASE
        159,  # TIMEOUT_EXCEEDED
        164,  # READONLY
        173,  # CANNOT_ALLOCATE_MEMORY
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        203,  # NO_FREE_CONNECTION
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        243,  # NOT_ENOUGH_SPACE
        252,  # TOO_MANY_PARTS
        285,  # TOO_FEW_LIVE_REPLICAS
        319,  # UNKNOWN_STATUS_OF_INSERT
        394,  # QUERY_WAS_CANCELLED
        425,  # SYSTEM_ERROR
        439,  # CANNOT_SCHEDULE_TASK
        497,  # ACCESS_DENIED
        516,  # AUTHENTICATION_FAILED
        999,  # KEEPER_EXCEPTION
    }
)
SCHEMA_CODES = frozenset({16, 60, 81})


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` says ClickHouse cannot take the batch now (retry), False when it
    refuses the data itself (isolate the poison rows).

    Errors of unknown kinds count as transient: blocking and logging is safer than
    turning a whole batch into rejections because of a bug.
    """
    from clickhouse_driver import errors

    if isinstance(exc, errors.ServerException):
        if exc.code == 252 and "partitions for single INSERT block" in str(exc):
            return False  # a backfill spanning many days: smaller inserts will pass
        return exc.code in TRANSIENT_CODES
    # A value the client could not serialise means that row is poison; anything else
    # (NetworkError, SocketTimeoutError, EOFError, OSError, unknown kinds) is transient.
    return not isinstance(
        exc, (errors.TypeMismatchError, TypeError, ValueError, OverflowError, struct.error)
    )
