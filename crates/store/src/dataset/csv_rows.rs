//! CSV rows: the real Kepler file (or any table) as JSON objects keyed by one column.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::{Row, bad_row};
use crate::error::StoreResult;

/// Reads a CSV file with a header row; lines starting with `#` (the NASA archive's comment
/// block) are skipped. Each record becomes a [`Row`] keyed by `key_column`.
///
/// Fails up front when the file cannot be opened, the header repeats a column, or the key
/// column does not exist (the error lists the columns there are); a record with an empty or
/// repeated key, or the wrong number of fields, fails with its line number.
pub fn read(path: &Path, key_column: &str) -> StoreResult<impl Iterator<Item = StoreResult<Row>>> {
    let file = std::fs::File::open(path)
        .map_err(|error| bad_row(format!("cannot open {}: {error}", path.display())))?;
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(std::io::BufReader::new(file));
    let headers: Vec<String> = reader
        .headers()
        .map_err(|error| bad_row(format!("{}: bad header: {error}", path.display())))?
        .iter()
        .map(str::to_owned)
        .collect();
    let key_index = headers
        .iter()
        .position(|h| h == key_column)
        .ok_or_else(|| {
            bad_row(format!(
                "{}: no column {key_column:?}; the columns are {}",
                path.display(),
                headers.join(", ")
            ))
        })?;
    let display = path.display().to_string();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    Ok(reader.into_records().map(move |record| {
        let record = record.map_err(|error| bad_row(format!("{display}: {error}")))?;
        let line = record.position().map_or(0, csv::Position::line);
        let key = record.get(key_index).unwrap_or_default();
        if key.is_empty() {
            return Err(bad_row(format!(
                "{display}:{line}: the key column {:?} is empty",
                headers[key_index]
            )));
        }
        // A repeated key would make the load depend on row order and a re-run rewrite rows:
        // refuse it, naming both lines.
        if let Some(first) = first_line.insert(key.to_owned(), line) {
            return Err(bad_row(format!(
                "{display}:{line}: key {key:?} of column {:?} repeats (first on line {first}); \
                 choose a column whose values are unique",
                headers[key_index]
            )));
        }
        let mut object = Map::with_capacity(headers.len());
        for (name, field) in headers.iter().zip(record.iter()) {
            object.insert(name.clone(), typed(field));
        }
        let value = serde_json::to_vec(&Value::Object(object))
            .map_err(|error| bad_row(format!("{display}:{line}: {error}")))?;
        Ok(Row {
            key: key.to_owned(),
            value,
        })
    }))
}

/// A CSV field as JSON: empty → null; an integer that prints back the same → an integer
/// (so `"007"` stays text); a finite decimal → a number (trailing zeros are not kept:
/// `"1.50"` becomes `1.5`); anything else → a string (`"K00752.01"`, `"NaN"`).
pub fn typed(field: &str) -> Value {
    if field.is_empty() {
        return Value::Null;
    }
    if let Ok(integer) = field.parse::<i64>()
        && integer.to_string() == field
    {
        return Value::from(integer);
    }
    if field.contains(['.', 'e', 'E'])
        && !field.starts_with('.')
        && let Ok(decimal) = field.parse::<f64>()
        && decimal.is_finite()
        && let Some(number) = serde_json::Number::from_f64(decimal)
    {
        return Value::Number(number);
    }
    Value::String(field.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_their_meaning() {
        assert_eq!(typed(""), Value::Null);
        assert_eq!(typed("10797460"), Value::from(10797460));
        assert_eq!(typed("-3"), Value::from(-3));
        assert_eq!(typed("9.48803557"), serde_json::json!(9.48803557));
        assert_eq!(typed("1.5e3"), serde_json::json!(1500.0));
        assert_eq!(typed("007"), Value::from("007"));
        assert_eq!(typed("K00752.01"), Value::from("K00752.01"));
        assert_eq!(typed("CONFIRMED"), Value::from("CONFIRMED"));
        assert_eq!(typed("NaN"), Value::from("NaN"));
        assert_eq!(typed("inf"), Value::from("inf"));
    }
}
