//! The scoring worker's compiled fast path: a batch of JSON records decoded and checked
//! straight into typed columns.
//!
//! Like the validator's msgspec path (`streams/typed_columns.py`) this decoder may only ever
//! accept: a payload it does not accept is *refused*, which means only "the Python validator
//! must look at this one", never "this record is invalid". It words no rejection. What it
//! accepts must come out exactly as the Python validator would give it (a property test over
//! arbitrary payloads holds the two equal, `tests/streams/test_native_columns.py`).
//!
//! It accepts a payload when it is a JSON object (UTF-8, no byte order mark, at most
//! `max_record_bytes`), every key is known and appears once, every value is a scalar, and:
//! - `id` is a string of 1 to `max_id_chars` characters;
//! - each numeric feature is a number (or, for `bool` features, `true`/`false`), integral for
//!   `int` features, inside its allowed range (or clipped to it), or absent/`null` when the
//!   feature is nullable;
//! - each categorical feature is a string, or absent/`null` when nullable;
//! - `event_time` is absent/`null` (the ingest time, which must be storable), an integer of
//!   epoch milliseconds, or a string written exactly as `2026-05-01T00:00:00.000Z`, in the
//!   storable range either way.
//!
//! Anything else (another ISO form, a float time, a container, a duplicate key, NaN, ...)
//! is refused, and the Python validator decides.

// pyo3 0.22's generated wrappers convert PyErr into itself; newer clippy flags that.
#![allow(clippy::useless_conversion)]

mod scores;

use std::borrow::Cow;
use std::fmt;

use ahash::AHashMap as HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyFloat, PyList, PyString};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

/// One JSON scalar as read from a payload; strings borrow from it when they have no escapes.
#[derive(Clone)]
enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON scalar")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_bool<E>(self, value: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(value))
    }
    fn visit_i64<E>(self, value: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(value))
    }
    fn visit_u64<E>(self, value: u64) -> Result<Self::Value, E> {
        Ok(Scalar::UInt(value))
    }
    fn visit_f64<E>(self, value: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(value))
    }
    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(value)))
    }
    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(value.to_owned())))
    }
    fn visit_string<E>(self, value: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(value)))
    }
    // Containers are not visited: serde's default answer, an error, refuses the payload.
}

struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// The slot of each field name; records of one producer write their keys in one order, so
/// the slot of the n-th key of the previous record is tried first (one comparison).
struct Slots<'k> {
    by_name: &'k HashMap<String, usize>,
    names: &'k [String],
    /// The slot of the n-th key of the record before.
    previous: Vec<usize>,
}

impl Slots<'_> {
    fn find(&mut self, index: usize, key: &str) -> Option<usize> {
        if let Some(&slot) = self.previous.get(index) {
            if self.names[slot] == key {
                return Some(slot);
            }
        }
        let slot = *self.by_name.get(key)?;
        if index < self.previous.len() {
            self.previous[index] = slot;
        } else if index == self.previous.len() {
            self.previous.push(slot);
        }
        Some(slot)
    }
}

/// A key's slot; an unknown key is an error, which refuses the payload at once.
struct KeySeed<'s, 'k> {
    slots: &'s mut Slots<'k>,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = usize;
    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a known field name")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
        self.slots
            .find(self.index, key)
            .ok_or_else(|| E::custom("unknown field"))
    }
}

/// A record's values by slot (None: absent).
struct RecordVisitor<'s, 'k> {
    slots: &'s mut Slots<'k>,
    count: usize,
}

impl<'de> Visitor<'de> for RecordVisitor<'_, '_> {
    type Value = Vec<Option<Scalar<'de>>>;
    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut row: Vec<Option<Scalar<'de>>> = vec![None; self.count];
        let mut index = 0;
        while let Some(slot) = map.next_key_seed(KeySeed {
            slots: &mut *self.slots,
            index,
        })? {
            index += 1;
            let value = map.next_value_seed(ScalarSeed)?;
            // A duplicate key: which value counts is the Python decoder's to say.
            if row[slot].replace(value).is_some() {
                return Err(de::Error::custom("duplicate field"));
            }
        }
        Ok(row)
    }
}

/// What a feature accepts.
#[derive(Clone, Copy)]
enum FeatureKind {
    /// A JSON number; `integral`: an `int` feature.
    Number { integral: bool },
    /// `true` or `false`, as 1.0 and 0.0.
    Boolean,
    /// A JSON string.
    Category,
}

#[derive(Clone, Copy)]
struct Feature {
    kind: FeatureKind,
    nullable: bool,
    low: Option<f64>,
    high: Option<f64>,
}

/// One accepted feature column.
enum Column<'a> {
    Numbers(Vec<f64>),
    Categories(Vec<Option<Cow<'a, str>>>),
}

/// One feature's value of one record: a number (NaN when missing) or a category.
enum Value<'a> {
    Number(f64),
    Category(Option<Cow<'a, str>>),
}

/// A feature as Python describes it: name, kind, nullable, allowed min and max.
type FeatureArgs = (String, String, bool, Option<f64>, Option<f64>);

/// Decodes batches of payloads against one feature schema.
#[pyclass(module = "scorestream_native", frozen)]
struct BatchDecoder {
    slots: HashMap<String, usize>,
    /// Each slot's field name.
    names: Vec<String>,
    slot_count: usize,
    features: Vec<Feature>,
    clip: bool,
    max_record_bytes: usize,
    max_id_chars: usize,
    min_ms: i64,
    max_ms: i64,
}

const ID_SLOT: usize = 0;

#[pymethods]
impl BatchDecoder {
    /// `features`: (name, kind, nullable, low, high) in schema order, kind one of "float",
    /// "int", "bool", "categorical"; `ignored`: other fields a record may carry (scalars);
    /// event times are storable in [min_ms, max_ms).
    #[new]
    #[pyo3(signature = (features, ignored, *, clip, max_record_bytes, max_id_chars, min_ms, max_ms))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        features: Vec<FeatureArgs>,
        ignored: Vec<String>,
        clip: bool,
        max_record_bytes: usize,
        max_id_chars: usize,
        min_ms: i64,
        max_ms: i64,
    ) -> PyResult<Self> {
        let mut slots = HashMap::default();
        slots.insert("id".to_owned(), ID_SLOT);
        let mut parsed = Vec::with_capacity(features.len());
        for (name, kind, nullable, low, high) in features {
            let kind = match kind.as_str() {
                "float" => FeatureKind::Number { integral: false },
                "int" => FeatureKind::Number { integral: true },
                "bool" => FeatureKind::Boolean,
                "categorical" => FeatureKind::Category,
                other => return Err(PyValueError::new_err(format!("unknown kind {other:?}"))),
            };
            if slots.insert(name.clone(), slots.len()).is_some() {
                return Err(PyValueError::new_err(format!("field {name:?} given twice")));
            }
            parsed.push(Feature {
                kind,
                nullable,
                low,
                high,
            });
        }
        if slots.insert("event_time".to_owned(), slots.len()).is_some() {
            return Err(PyValueError::new_err("a feature is called event_time"));
        }
        for name in ignored {
            let next = slots.len();
            slots.entry(name).or_insert(next);
        }
        let mut names = vec![String::new(); slots.len()];
        for (name, &slot) in &slots {
            names[slot] = name.clone();
        }
        Ok(BatchDecoder {
            names,
            slot_count: slots.len(),
            slots,
            features: parsed,
            clip,
            max_record_bytes,
            max_id_chars,
            min_ms,
            max_ms,
        })
    }

    /// Decode `payloads` (`ingest_ms[i]`: record i's default event time).
    ///
    /// Returns (refused, ids, columns, times, text): the positions of the refused payloads;
    /// for the accepted ones, in order, their ids, one column per feature (a bytearray of
    /// float64, NaN where missing, or a list of str and NaN), their event times (a bytearray
    /// of int64) and, when every accepted record wrote its event time in the canonical form,
    /// that text (else None).
    #[allow(clippy::type_complexity)]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        payloads: &Bound<'py, PyList>,
        ingest_ms: Vec<i64>,
    ) -> PyResult<(
        Vec<usize>,
        Bound<'py, PyList>,
        Bound<'py, PyList>,
        Bound<'py, PyByteArray>,
        Option<Bound<'py, PyList>>,
    )> {
        if payloads.len() != ingest_ms.len() {
            return Err(PyValueError::new_err(
                "payloads and ingest times differ in length",
            ));
        }
        let items: Vec<Bound<'py, PyAny>> = payloads.iter().collect();
        let mut refused = Vec::new();
        let mut ids: Vec<Cow<str>> = Vec::with_capacity(items.len());
        let mut times: Vec<i64> = Vec::with_capacity(items.len());
        let mut text: Vec<&str> = Vec::with_capacity(items.len());
        let mut all_text = true;
        let mut columns: Vec<Column> = self
            .features
            .iter()
            .map(|feature| match feature.kind {
                FeatureKind::Category => Column::Categories(Vec::with_capacity(items.len())),
                _ => Column::Numbers(Vec::with_capacity(items.len())),
            })
            .collect();
        let mut values: Vec<Value> = Vec::with_capacity(self.features.len());
        let mut slots = Slots {
            by_name: &self.slots,
            names: &self.names,
            previous: Vec::new(),
        };
        for (position, item) in items.iter().enumerate() {
            let Ok(bytes) = item.downcast::<PyBytes>() else {
                refused.push(position);
                continue;
            };
            let payload = bytes.as_bytes();
            let Some(record) = self.record(payload, ingest_ms[position], &mut slots, &mut values)
            else {
                refused.push(position);
                continue;
            };
            ids.push(record.id);
            times.push(record.time_ms);
            match record.text {
                Some(written) if all_text => text.push(written),
                _ => all_text = false,
            }
            for (column, value) in columns.iter_mut().zip(values.drain(..)) {
                match (column, value) {
                    (Column::Numbers(numbers), Value::Number(number)) => numbers.push(number),
                    (Column::Categories(categories), Value::Category(category)) => {
                        categories.push(category)
                    }
                    _ => unreachable!("a feature's values are all of its kind"),
                }
            }
        }

        let id_list = PyList::new_bound(py, ids.iter().map(|id| PyString::new_bound(py, id)));
        let nan = PyFloat::new_bound(py, f64::NAN).into_any();
        let column_list = PyList::empty_bound(py);
        for column in &columns {
            match column {
                Column::Numbers(numbers) => {
                    let raw: Vec<u8> = numbers.iter().flat_map(|n| n.to_ne_bytes()).collect();
                    column_list.append(PyByteArray::new_bound(py, &raw))?;
                }
                Column::Categories(categories) => {
                    // Few distinct categories: one str object each, shared by their rows.
                    let mut made: HashMap<&str, Bound<'py, PyAny>> = HashMap::default();
                    let list = PyList::empty_bound(py);
                    for category in categories {
                        match category {
                            Some(name) => {
                                let object = made
                                    .entry(name.as_ref())
                                    .or_insert_with(|| PyString::new_bound(py, name).into_any());
                                list.append(object.clone())?;
                            }
                            None => list.append(nan.clone())?,
                        }
                    }
                    column_list.append(list)?;
                }
            }
        }
        let raw_times: Vec<u8> = times.iter().flat_map(|t| t.to_ne_bytes()).collect();
        let text_list = if all_text && !ids.is_empty() {
            Some(PyList::new_bound(
                py,
                text.iter().map(|t| PyString::new_bound(py, t)),
            ))
        } else {
            None
        };
        Ok((
            refused,
            id_list,
            column_list,
            PyByteArray::new_bound(py, &raw_times),
            text_list,
        ))
    }
}

/// An accepted record's id and event time (the features went to `values`).
struct Accepted<'a> {
    id: Cow<'a, str>,
    time_ms: i64,
    /// The event time as written, when written in the canonical form.
    text: Option<&'a str>,
}

impl BatchDecoder {
    /// `payload`'s id and event time, its feature values in `values`; None: refused.
    fn record<'a>(
        &self,
        payload: &'a [u8],
        ingest_ms: i64,
        slots: &mut Slots,
        values: &mut Vec<Value<'a>>,
    ) -> Option<Accepted<'a>> {
        values.clear();
        if payload.len() > self.max_record_bytes {
            return None;
        }
        let mut deserializer = serde_json::Deserializer::from_slice(payload);
        let visitor = RecordVisitor {
            slots,
            count: self.slot_count,
        };
        let mut row = deserializer.deserialize_map(visitor).ok()?;
        deserializer.end().ok()?;

        let id = match row[ID_SLOT].take() {
            Some(Scalar::Str(id)) if !id.is_empty() && id.chars().count() <= self.max_id_chars => {
                id
            }
            _ => return None,
        };
        for (index, feature) in self.features.iter().enumerate() {
            values.push(self.value(feature, row[1 + index].take())?);
        }
        let (time_ms, text) = match row[1 + self.features.len()].take() {
            None | Some(Scalar::Null) => (ingest_ms, None),
            Some(Scalar::Int(millis)) => (millis, None),
            Some(Scalar::UInt(millis)) => (i64::try_from(millis).ok()?, None),
            Some(Scalar::Str(Cow::Borrowed(written))) => (canonical_ms(written)?, Some(written)),
            Some(Scalar::Str(Cow::Owned(written))) => (canonical_ms(&written)?, None),
            Some(_) => return None,
        };
        if !(self.min_ms..self.max_ms).contains(&time_ms) {
            return None;
        }
        Some(Accepted { id, time_ms, text })
    }

    /// One feature's value, or None if the Python validator must look at the record.
    fn value<'a>(&self, feature: &Feature, given: Option<Scalar<'a>>) -> Option<Value<'a>> {
        let number = match (feature.kind, given) {
            (_, None | Some(Scalar::Null)) => {
                if !feature.nullable {
                    return None;
                }
                return Some(match feature.kind {
                    FeatureKind::Category => Value::Category(None),
                    _ => Value::Number(f64::NAN),
                });
            }
            (FeatureKind::Category, Some(Scalar::Str(category))) => {
                return Some(Value::Category(Some(category)))
            }
            (FeatureKind::Boolean, Some(Scalar::Bool(flag))) => f64::from(u8::from(flag)),
            (FeatureKind::Number { .. }, Some(Scalar::Int(n))) => n as f64,
            (FeatureKind::Number { .. }, Some(Scalar::UInt(n))) => n as f64,
            (FeatureKind::Number { .. }, Some(Scalar::Float(n))) => n,
            _ => return None,
        };
        if !number.is_finite() {
            return None;
        }
        if let FeatureKind::Number { integral: true } = feature.kind {
            if number.fract() != 0.0 {
                return None;
            }
        }
        let low = feature.low.unwrap_or(f64::NEG_INFINITY);
        let high = feature.high.unwrap_or(f64::INFINITY);
        if self.clip {
            // As numpy's clip: a value equal to a bound (-0.0 and 0.0 too) is kept as it is.
            let clipped = if number < low {
                low
            } else if number > high {
                high
            } else {
                number
            };
            return Some(Value::Number(clipped));
        }
        if number < low || number > high {
            return None;
        }
        Some(Value::Number(number))
    }
}

/// Epoch milliseconds of a time written exactly as `2026-05-01T00:00:00.000Z`, or None.
fn canonical_ms(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 24 {
        return None;
    }
    for (position, separator) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ] {
        if bytes[position] != separator {
            return None;
        }
    }
    let number = |from: usize, to: usize| -> Option<i64> {
        bytes[from..to].iter().try_fold(0i64, |total, &digit| {
            digit
                .is_ascii_digit()
                .then(|| total * 10 + i64::from(digit - b'0'))
        })
    };
    let year = number(0, 4)?;
    let month = number(5, 7)?;
    let day = number(8, 10)?;
    let hour = number(11, 13)?;
    let minute = number(14, 16)?;
    let second = number(17, 19)?;
    let milli = number(20, 23)?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if year < 1 || day < 1 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let shifted = year - i64::from(month <= 2);
    let era = shifted.div_euclid(400);
    let year_of_era = shifted - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + milli)
}

#[pymodule]
fn scorestream_native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<BatchDecoder>()?;
    module.add_function(wrap_pyfunction!(scores::encode_scores, module)?)?;
    Ok(())
}
