"""Hostile ``records`` payloads: hypothesis strategies, and a seeded generator of the same kinds.

The strategies feed the property test of the batch path; the seeded generator feeds the fuzz
run through the real worker and sink, which needs thousands of reproducible payloads at once.
"""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import strategies as st

#: Strings that look like numbers to someone, and are not.
NAN_LIKE = ["NaN", "nan", "-Infinity", "Infinity", "inf", "1e999", "0x10", "１２", "null", ""]
ODD_STRINGS = ["\x00", "\u202e", "\ufeff", "e\u0301", "😀", "\U0010ffff", "\ud800", "\udfff"]
#: Number literals at and beyond the limits of 64-bit integers and doubles.
HUGE_NUMBERS = [
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "1" + "0" * 400,
    "1e308",
    "-1e308",
    "5e-324",
    "1e999",
    "-1e999",
    "NaN",
    "Infinity",
    "-Infinity",
    "9007199254740993",
    "-0.0",
]
EVENT_TIMES: list[Any] = [
    "2106-02-07T06:28:15Z",
    "2106-02-07T06:28:16Z",
    "2261-12-31T23:59:59Z",
    "1969-12-31T23:59:59Z",
    "2026-03-01T00:00:00\x00",
    "2026-03-01T00:00:00+14:00",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59.999999-23:59",
    4_294_967_296_000,
    4_294_967_295_999,
    -1,
    9_183_110_400_000,
    1.5,
]
ENCODINGS = ["utf-8"] * 6 + ["utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1"]


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


def nested_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def json_text(value: Any) -> str:
    """JSON as Python writes it: NaN and Infinity as literals, lone surrogates kept."""
    return json.dumps(value, ensure_ascii=False)


def encode(text: str, encoding: str) -> bytes:
    # surrogatepass: a lone surrogate becomes the (invalid) 3-byte UTF-8 form, not an error.
    return text.encode(
        encoding, errors="surrogatepass" if encoding.startswith("utf") else "replace"
    )


# --- hypothesis strategies --------------------------------------------------------------------
odd_text = st.text(max_size=12) | st.sampled_from([*ODD_STRINGS, *NAN_LIKE])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | odd_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(odd_text, children, max_size=4)
    ),
    max_leaves=12,
)
field_values = st.one_of(
    json_values.map(json_text),
    st.sampled_from(HUGE_NUMBERS),
    st.sampled_from(EVENT_TIMES).map(json_text),
    st.integers(900, 1100).map(nested),
    st.integers(900, 1100).map(nested_object),
)


def hostile_records(template: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Records shaped like ``template`` with hostile values, duplicate keys, odd encodings."""
    names = list(template)

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        fields = [f"{json_text(k)}: {json_text(v)}" for k, v in template.items()]
        for index in draw(st.lists(st.integers(0, len(names) - 1), min_size=1, max_size=3)):
            fields[index] = f"{json_text(names[index])}: {draw(field_values)}"
        # A duplicate key: which one wins is the decoder's choice; either way, one output.
        for name in draw(st.lists(st.sampled_from(names), max_size=2)):
            fields.append(f"{json_text(name)}: {draw(field_values)}")
        return encode("{" + ", ".join(fields) + "}", draw(st.sampled_from(ENCODINGS)))

    return build()


def hostile_payloads(template: dict[str, Any]) -> st.SearchStrategy[bytes | None]:
    """Anything a topic can hold: no value, any bytes, any JSON, and hostile records."""
    return st.one_of(
        st.none(),
        st.binary(max_size=300),
        json_values.map(lambda value: encode(json_text(value), "utf-8")),
        st.integers(900, 1100).map(lambda depth: nested(depth).encode()),
        hostile_records(template),
    )


# --- seeded generator -------------------------------------------------------------------------
def _value(rng: random.Random) -> str:
    kind = rng.randrange(7)
    if kind == 0:
        return rng.choice(HUGE_NUMBERS)
    if kind == 1:
        return json_text(rng.choice(EVENT_TIMES))
    if kind == 2:
        return nested(rng.randint(900, 1100), *rng.choice([("[", "]"), ("{", "}")]))
    if kind == 3:
        return nested_object(rng.randint(900, 1100))
    if kind == 4:
        return json_text(rng.choice(ODD_STRINGS + NAN_LIKE))
    if kind == 5:
        return json_text(rng.choice([None, True, False, [], {}, 0, -1, "x" * rng.randint(0, 300)]))
    return json_text("".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(0, 8))))


def seeded_hostile(template: dict[str, Any], rng: random.Random, record_id: str) -> bytes | None:
    """One hostile payload; ``record_id`` is its id when it is a record that has one."""
    kind = rng.randrange(10)
    if kind == 0:
        return None
    if kind == 1:
        return rng.randbytes(rng.randint(0, 200))
    if kind == 2:
        return nested(rng.randint(900, 1100)).encode()
    names = list(template)
    fields = {name: json_text(value) for name, value in template.items()}
    fields["id"] = json_text(record_id)
    for _ in range(rng.randint(1, 3)):
        fields[rng.choice(names)] = _value(rng)
    parts = [f"{json_text(name)}: {value}" for name, value in fields.items()]
    if rng.random() < 0.3:
        parts.append(f"{json_text(rng.choice(names))}: {_value(rng)}")
    return encode("{" + ", ".join(parts) + "}", rng.choice(ENCODINGS))
