//! A deterministic, Kepler-like exoplanet table.
//!
//! The original lab stored NASA's Kepler "cumulative KOI" table (about 9 564 rows) in
//! PostgreSQL and looked rows up by id. This generator reproduces its shape with no
//! network: the real column names, one row per Kepler Object of Interest, several KOIs per
//! star (so `kepid` repeats), the three dispositions in roughly the real proportions,
//! `kepler_name` only for confirmed planets, missing values where the archive has them,
//! and physically consistent numbers (insolation and equilibrium temperature follow from
//! the star and the orbital period). The same seed always gives the same table.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, LogNormal, Normal};
use serde_json::{Map, Value, json};

use super::Row;

/// Rows in the real cumulative table.
pub const FULL_ROWS: usize = 9_564;
/// The seed `tiercache load --dataset kepler` uses unless told otherwise.
pub const DEFAULT_SEED: u64 = 1_009;
/// The column the rows are keyed by.
pub const KEY_COLUMN: &str = "rowid";

/// The table's columns, in order.
pub const COLUMNS: [&str; 18] = [
    "rowid",
    "kepid",
    "kepoi_name",
    "kepler_name",
    "koi_disposition",
    "koi_pdisposition",
    "koi_score",
    "koi_period",
    "koi_duration",
    "koi_depth",
    "koi_prad",
    "koi_teq",
    "koi_insol",
    "koi_steff",
    "koi_srad",
    "ra",
    "dec",
    "koi_kepmag",
];

/// A star and what its KOIs share.
struct Star {
    kepid: u64,
    koi_number: u32,
    kepler_number: Option<u32>,
    steff: f64,
    srad: f64,
    ra: f64,
    dec: f64,
    kepmag: f64,
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// `None` with probability `p` (a missing value), else `Some(value)`.
fn maybe<T>(rng: &mut Xoshiro256PlusPlus, p: f64, value: T) -> Option<T> {
    (!rng.random_bool(p)).then_some(value)
}

/// The first `rows` rows of the table generated from `seed`, keyed by `rowid` (1, 2, …).
pub fn rows(rows: usize, seed: u64) -> impl Iterator<Item = Row> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let steff = Normal::<f64>::new(5_600.0, 750.0).expect("valid normal");
    let srad = LogNormal::<f64>::new(0.0, 0.35).expect("valid log-normal");
    let magnitude_spread = LogNormal::<f64>::new(1.0, 0.35).expect("valid log-normal");
    let depth = LogNormal::<f64>::new(6.0, 1.6).expect("valid log-normal");
    let prad = LogNormal::<f64>::new(0.9, 0.8).expect("valid log-normal");
    let mut star: Option<(Star, u32)> = None; // the current star and KOIs left on it
    let mut next_koi = 1u32;
    let mut next_kepler = 1u32;
    let mut kepid = 757_000u64;
    let mut planet_letter = 0u8;
    (1..=rows).map(move |rowid| {
        if star.as_ref().is_none_or(|(_, left)| *left == 0) {
            kepid += rng.random_range(50..2_300u64);
            let kois = match rng.random::<f64>() {
                p if p < 0.74 => 1,
                p if p < 0.90 => 2,
                p if p < 0.96 => 3,
                p if p < 0.99 => 4,
                _ => rng.random_range(5..8),
            };
            star = Some((
                Star {
                    kepid,
                    koi_number: next_koi,
                    kepler_number: None,
                    steff: steff.sample(&mut rng).clamp(2_700.0, 9_800.0).round(),
                    srad: round(srad.sample(&mut rng).clamp(0.1, 30.0), 3),
                    ra: round(rng.random_range(280.0..302.0), 6),
                    dec: round(rng.random_range(36.5..52.5), 6),
                    kepmag: round(17.0 - magnitude_spread.sample(&mut rng).min(8.0), 3),
                },
                kois,
            ));
            next_koi += 1;
            planet_letter = 0;
        }
        let (star, left) = star.as_mut().expect("a star was just chosen");
        let planet_index = planet_letter;
        planet_letter += 1;
        *left -= 1;

        let disposition = match rng.random::<f64>() {
            p if p < 0.24 => "CONFIRMED",
            p if p < 0.49 => "CANDIDATE",
            _ => "FALSE POSITIVE",
        };
        let pdisposition = match disposition {
            "FALSE POSITIVE" => "FALSE POSITIVE",
            _ if rng.random_bool(0.02) => "FALSE POSITIVE",
            _ => "CANDIDATE",
        };
        let kepler_name = (disposition == "CONFIRMED").then(|| {
            let number = *star.kepler_number.get_or_insert_with(|| {
                next_kepler += 1;
                next_kepler - 1
            });
            format!("Kepler-{number} {}", char::from(b'b' + planet_index.min(6)))
        });
        let score = match disposition {
            "CONFIRMED" => rng.random_range(0.85..1.0),
            "CANDIDATE" => rng.random_range(0.3..1.0),
            _ => rng.random::<f64>().powi(4) * 0.6,
        };
        // Orbital periods span 0.25 to 700 days, log-uniformly.
        let period: f64 = (rng.random_range(0.25f64.ln()..700f64.ln())).exp();
        let duration = (period.cbrt() * rng.random_range(1.2..2.6)).clamp(0.5, 24.0);
        let false_positive = disposition == "FALSE POSITIVE";
        let depth = depth.sample(&mut rng) * if false_positive { 8.0 } else { 1.0 };
        let prad = prad.sample(&mut rng) * if false_positive { 4.0 } else { 1.0 };
        // Kepler's third law for a solar-mass star, then flux and equilibrium temperature.
        let semi_major_axis_au = (period / 365.25).powf(2.0 / 3.0);
        let insol = star.srad.powi(2) * (star.steff / 5_778.0).powi(4) / semi_major_axis_au.powi(2);
        let teq = 278.3 * insol.powf(0.25);

        let mut row = Map::with_capacity(COLUMNS.len());
        row.insert("rowid".into(), json!(rowid));
        row.insert("kepid".into(), json!(star.kepid));
        row.insert(
            "kepoi_name".into(),
            json!(format!("K{:05}.{:02}", star.koi_number, planet_index + 1)),
        );
        row.insert("kepler_name".into(), json!(kepler_name));
        row.insert("koi_disposition".into(), json!(disposition));
        row.insert("koi_pdisposition".into(), json!(pdisposition));
        row.insert(
            "koi_score".into(),
            json!(maybe(&mut rng, 0.16, round(score, 3))),
        );
        row.insert("koi_period".into(), json!(round(period, 8)));
        row.insert("koi_duration".into(), json!(round(duration, 5)));
        row.insert(
            "koi_depth".into(),
            json!(maybe(&mut rng, 0.04, round(depth, 1))),
        );
        row.insert(
            "koi_prad".into(),
            json!(maybe(&mut rng, 0.04, round(prad, 2))),
        );
        row.insert("koi_teq".into(), json!(maybe(&mut rng, 0.04, teq.round())));
        row.insert(
            "koi_insol".into(),
            json!(maybe(&mut rng, 0.04, round(insol, 2))),
        );
        row.insert("koi_steff".into(), json!(maybe(&mut rng, 0.04, star.steff)));
        row.insert("koi_srad".into(), json!(maybe(&mut rng, 0.04, star.srad)));
        row.insert("ra".into(), json!(star.ra));
        row.insert("dec".into(), json!(star.dec));
        row.insert(
            "koi_kepmag".into(),
            json!(maybe(&mut rng, 0.001, star.kepmag)),
        );
        Row {
            key: rowid.to_string(),
            value: serde_json::to_vec(&Value::Object(row)).expect("JSON of plain values"),
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    fn table(n: usize, seed: u64) -> Vec<Map<String, Value>> {
        rows(n, seed)
            .map(|row| match serde_json::from_slice(&row.value).unwrap() {
                Value::Object(map) => map,
                other => panic!("not an object: {other}"),
            })
            .collect()
    }

    #[test]
    fn same_seed_same_table_other_seed_other_table() {
        let a: Vec<Row> = rows(300, 7).collect();
        assert_eq!(a, rows(300, 7).collect::<Vec<_>>());
        assert_ne!(a, rows(300, 8).collect::<Vec<_>>());
        // A shorter table is a prefix of a longer one (the 1 000-row variant of the lab).
        assert_eq!(rows(100, 7).collect::<Vec<_>>(), a[..100]);
    }

    #[test]
    fn the_table_looks_like_the_kepler_cumulative_table() {
        let table = table(FULL_ROWS, DEFAULT_SEED);
        assert_eq!(table.len(), FULL_ROWS);
        for row in &table {
            assert_eq!(row.keys().map(String::as_str).collect::<Vec<_>>(), COLUMNS);
        }
        // Keys are unique and 1-based.
        let keys: HashSet<u64> = table.iter().map(|r| r["rowid"].as_u64().unwrap()).collect();
        assert_eq!(keys.len(), FULL_ROWS);
        assert!(keys.contains(&1) && keys.contains(&(FULL_ROWS as u64)));
        // Stars host several KOIs: kepid repeats, kepoi_name does not.
        let stars: HashSet<u64> = table.iter().map(|r| r["kepid"].as_u64().unwrap()).collect();
        assert!(
            stars.len() < FULL_ROWS * 9 / 10 && stars.len() > FULL_ROWS / 2,
            "{}",
            stars.len()
        );
        let names: HashSet<&str> = table
            .iter()
            .map(|r| r["kepoi_name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), FULL_ROWS);
        // Dispositions in roughly the archive's proportions; names only for confirmed.
        let mut by_disposition: HashMap<&str, usize> = HashMap::new();
        for row in &table {
            let disposition = row["koi_disposition"].as_str().unwrap();
            *by_disposition.entry(disposition).or_default() += 1;
            assert_eq!(row["kepler_name"].is_string(), disposition == "CONFIRMED");
        }
        let share = |d: &str| by_disposition[d] as f64 / FULL_ROWS as f64;
        assert!((0.20..0.28).contains(&share("CONFIRMED")));
        assert!((0.21..0.29).contains(&share("CANDIDATE")));
        assert!((0.46..0.56).contains(&share("FALSE POSITIVE")));
        // Missing values exist, and numbers are physical.
        assert!(table.iter().any(|r| r["koi_score"].is_null()));
        for row in &table {
            let period = row["koi_period"].as_f64().unwrap();
            assert!((0.24..=700.1).contains(&period), "{period}");
            if let Some(teq) = row["koi_teq"].as_f64() {
                assert!((30.0..20_000.0).contains(&teq), "{teq}");
            }
            let ra = row["ra"].as_f64().unwrap();
            assert!((280.0..302.0).contains(&ra));
        }
    }
}
