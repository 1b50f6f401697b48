"""What every decoder of the contract shares: the parse, and field errors as DecodeError."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from scorestream.exceptions import DecodeError

#: The longest id a record or a label may have (characters): the worker, the bridge and the
#: labels' decoder refuse longer ones alike.
MAX_ID_LENGTH = 256

#: One row of a table, in the order of :attr:`~scorestream.contract.tables.TableSpec.inserted`.
Row = tuple[Any, ...]
T = TypeVar("T")


def parse_object(value: bytes | None) -> dict[str, Any]:
    """The JSON object in ``value``, or DecodeError."""
    if not value:
        raise DecodeError("empty message")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"invalid JSON: {exc}") from None
    if type(doc) is not dict:
        raise DecodeError(f"expected a JSON object, got {type(doc).__name__}")
    return doc


def field_error(exc: Exception) -> DecodeError:
    """The DecodeError for a KeyError/TypeError/ValueError raised while reading fields."""
    if isinstance(exc, DecodeError):
        return exc
    if isinstance(exc, KeyError):
        return DecodeError(f"missing field {exc.args[0]!r}", str(exc.args[0]))
    return DecodeError(f"{type(exc).__name__}: {exc}")


def decoder(read: Callable[[dict[str, Any]], T]) -> Callable[[bytes | None], T]:
    """Parse the message, then turn field-access errors of ``read`` into DecodeError."""

    @functools.wraps(read)
    def decode(value: bytes | None) -> T:
        doc = parse_object(value)
        try:
            return read(doc)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise field_error(exc) from None

    return decode


def json_type(value: Any) -> str:
    """What a decoded JSON value is, in the words of an error message.

    >>> [json_type(v) for v in (None, True, 3, "x", [], {})]
    ['null', 'a boolean', 'the number 3', 'a string', 'an array', 'an object']
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def id_problem(record_id: Any, of: str = "record") -> str:
    """Why ``record_id`` is not a usable id (a non-empty string of at most
    :data:`MAX_ID_LENGTH` characters), in words; ``of`` names what carries it.

    >>> id_problem(None, "label"), id_problem(7), id_problem("")
    ('the label has no id', 'id must be a string, got the number 7', 'id must not be empty')
    """
    if record_id is None:
        return f"the {of} has no id"
    if type(record_id) is not str:
        return f"id must be a string, got {json_type(record_id)}"
    if not record_id:
        return "id must not be empty"
    return f"id has {len(record_id)} characters, more than {MAX_ID_LENGTH}"
