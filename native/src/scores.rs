//! The `scores` messages of a batch, written in one call: the bytes msgspec writes.
//!
//! The Python side (`streams/native_scores.py`) gives the JSON between the per-row values
//! (keys and the fields every row shares, written by msgspec itself), so the field order and
//! the shared values are defined once, in `contract/scores.py`. This module writes the
//! per-row values exactly as msgspec does (strings escaped the same way, floats in its
//! format); a property test holds every byte equal to `encode_scores`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyList, PyLong, PyString};

/// The per-row values, in message order, between the `segments`.
const ROW_VALUES: usize = 9;

/// Write the messages of a batch, or None if a label is of a type only msgspec knows
/// (Python writes that batch).
///
/// `segments`: the JSON before each per-row value and after the last (10 pieces); the
/// per-row values are id, event time (text), event time (ms), score, label, latency,
/// partition, offset and class probabilities (`probability_width` of them per row, row after
/// row); the integer and float columns come as the native-endian bytes of int64 and float64
/// arrays.
#[pyfunction]
#[pyo3(signature = (segments, ids, event_times, event_ms, scores, labels, latencies, partitions, offsets, probabilities, probability_width))]
#[allow(clippy::too_many_arguments)]
pub fn encode_scores<'py>(
    py: Python<'py>,
    segments: Vec<Vec<u8>>,
    ids: &Bound<'py, PyList>,
    event_times: &Bound<'py, PyList>,
    event_ms: &[u8],
    scores: &[u8],
    labels: &Bound<'py, PyList>,
    latencies: &[u8],
    partitions: &[u8],
    offsets: &[u8],
    probabilities: &[u8],
    probability_width: usize,
) -> PyResult<Option<Bound<'py, PyList>>> {
    let rows = ids.len();
    if segments.len() != ROW_VALUES + 1 {
        return Err(PyValueError::new_err("segments must be 10 pieces of JSON"));
    }
    let event_ms = int64s(event_ms, rows)?;
    let scores = float64s(scores, rows)?;
    let latencies = int64s(latencies, rows)?;
    let partitions = int64s(partitions, rows)?;
    let offsets = int64s(offsets, rows)?;
    let probabilities = float64s(probabilities, rows * probability_width)?;
    if event_times.len() != rows || labels.len() != rows {
        return Err(PyValueError::new_err(
            "every column needs one value per row",
        ));
    }
    let messages = PyList::empty_bound(py);
    let mut out: Vec<u8> = Vec::with_capacity(512);
    for row in 0..rows {
        out.clear();
        out.extend_from_slice(&segments[0]);
        write_str(
            &mut out,
            ids.get_item(row)?.downcast::<PyString>()?.to_str()?,
        );
        out.extend_from_slice(&segments[1]);
        write_str(
            &mut out,
            event_times
                .get_item(row)?
                .downcast::<PyString>()?
                .to_str()?,
        );
        out.extend_from_slice(&segments[2]);
        write_int(&mut out, event_ms[row]);
        out.extend_from_slice(&segments[3]);
        write_f64(&mut out, scores[row]);
        out.extend_from_slice(&segments[4]);
        if !write_scalar(&mut out, &labels.get_item(row)?)? {
            return Ok(None);
        }
        out.extend_from_slice(&segments[5]);
        write_int(&mut out, latencies[row]);
        out.extend_from_slice(&segments[6]);
        write_int(&mut out, partitions[row]);
        out.extend_from_slice(&segments[7]);
        write_int(&mut out, offsets[row]);
        out.extend_from_slice(&segments[8]);
        out.push(b'[');
        let first = row * probability_width;
        for (index, &probability) in probabilities[first..first + probability_width]
            .iter()
            .enumerate()
        {
            if index > 0 {
                out.push(b',');
            }
            write_f64(&mut out, probability);
        }
        out.push(b']');
        out.extend_from_slice(&segments[9]);
        messages.append(PyBytes::new_bound(py, &out))?;
    }
    Ok(Some(messages))
}

fn int64s(raw: &[u8], count: usize) -> PyResult<Vec<i64>> {
    if raw.len() != count * 8 {
        return Err(PyValueError::new_err(
            "an int64 column has the wrong length",
        ));
    }
    Ok(raw
        .chunks_exact(8)
        .map(|b| i64::from_ne_bytes(b.try_into().unwrap()))
        .collect())
}

fn float64s(raw: &[u8], count: usize) -> PyResult<Vec<f64>> {
    if raw.len() != count * 8 {
        return Err(PyValueError::new_err(
            "a float64 column has the wrong length",
        ));
    }
    Ok(raw
        .chunks_exact(8)
        .map(|b| f64::from_ne_bytes(b.try_into().unwrap()))
        .collect())
}

fn write_int(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// A label: a string, a boolean, an int64, a float or None; false for anything else.
fn write_scalar(out: &mut Vec<u8>, value: &Bound<'_, PyAny>) -> PyResult<bool> {
    if let Ok(text) = value.downcast::<PyString>() {
        write_str(out, text.to_str()?);
    } else if let Ok(flag) = value.downcast::<PyBool>() {
        out.extend_from_slice(if flag.is_true() { b"true" } else { b"false" });
    } else if value.is_instance_of::<PyLong>() {
        match value.extract::<i64>() {
            Ok(number) => write_int(out, number),
            Err(_) => return Ok(false),
        }
    } else if let Ok(number) = value.downcast::<PyFloat>() {
        write_f64(out, number.value());
    } else if value.is_none() {
        out.extend_from_slice(b"null");
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// A JSON string as msgspec writes it: `"` and `\` escaped, control characters as `\n`-style
/// or `\u00XX` escapes, everything else as its UTF-8 bytes.
fn write_str(out: &mut Vec<u8>, text: &str) {
    // serde_json escapes exactly those characters, the same way.
    serde_json::to_writer(&mut *out, text).expect("writing to a Vec cannot fail");
}

/// A float as msgspec writes it: the shortest digits that read back as the same double, in
/// fixed notation when the decimal exponent is in [-5, 16) (`0.00001`, `1000000000000000.0`)
/// and scientific otherwise (`1e-6`, `1.5e16`); `null` for NaN and the infinities.
pub fn write_f64(out: &mut Vec<u8>, value: f64) {
    if !value.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    if value == 0.0 {
        out.extend_from_slice(if value.is_sign_negative() {
            b"-0.0"
        } else {
            b"0.0"
        });
        return;
    }
    let mut buffer = ryu::Buffer::new();
    let shortest = buffer.format_finite(value);
    let (negative, unsigned) = match shortest.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, shortest),
    };
    let (mantissa, exponent) = match unsigned.find('e') {
        Some(at) => (
            &unsigned[..at],
            unsigned[at + 1..].parse::<i32>().expect("ryu's exponent"),
        ),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // The significant digits and where the decimal point goes among them.
    let mut digits: Vec<u8> = whole.bytes().chain(fraction.bytes()).collect();
    let mut point = whole.len() as i32 + exponent;
    let leading = digits.iter().take_while(|&&digit| digit == b'0').count();
    digits.drain(..leading);
    point -= leading as i32;
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    if negative {
        out.push(b'-');
    }
    let scientific = point - 1;
    let count = digits.len() as i32;
    if (-5..16).contains(&scientific) {
        if point <= 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-point) as usize));
            out.extend_from_slice(&digits);
        } else if point >= count {
            out.extend_from_slice(&digits);
            out.extend(std::iter::repeat_n(b'0', (point - count) as usize));
            out.extend_from_slice(b".0");
        } else {
            out.extend_from_slice(&digits[..point as usize]);
            out.push(b'.');
            out.extend_from_slice(&digits[point as usize..]);
        }
    } else {
        out.push(digits[0]);
        if count > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        write_int(out, i64::from(scientific));
    }
}
