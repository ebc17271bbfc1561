//! The lab's report: `index.html` (self-contained: inline SVG charts, no script, nothing
//! fetched), `results.json`, `results.csv` and each chart as an SVG file, written into one
//! directory.
//!
//! - `charts`: each chart, drawn with plotters into SVG text;
//! - `summary`: the generated conclusions (winners, "partitioned + LFU", equal total memory);
//! - `html`: the page.

pub mod charts;
pub mod html;
pub mod summary;

use std::path::{Path, PathBuf};

use crate::LabError;
use crate::results::Results;

/// Writes `index.html`, `results.json`, `results.csv` and every chart alone as
/// `charts/ID.svg` into `dir` (created if missing) and returns the page's path.
pub fn write(dir: &Path, results: &Results) -> Result<PathBuf, LabError> {
    let io = |doing: String| move |error| LabError::Io { doing, error };
    let charts = dir.join("charts");
    std::fs::create_dir_all(&charts).map_err(io(format!("creating {}", charts.display())))?;
    // Drawn once: inlined in the page and written alone.
    let figures = html::figures(results);
    let mut files = vec![
        ("results.json".to_owned(), results.to_json()),
        ("results.csv".to_owned(), results.to_csv()),
        ("index.html".to_owned(), html::page(results, &figures)),
    ];
    for figure in figures {
        files.push((format!("charts/{}.svg", figure.id), figure.svg));
    }
    for (name, text) in files {
        let path = dir.join(&name);
        // Written beside and renamed: a reader never sees half a report.
        let partial = dir.join(format!("{name}.partial"));
        std::fs::write(&partial, text).map_err(io(format!("writing {}", partial.display())))?;
        std::fs::rename(&partial, &path).map_err(io(format!("writing {}", path.display())))?;
    }
    Ok(dir.join("index.html"))
}
