//! `tiercache load`: datasets into the store's database.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use tiercache_store::dataset::{self, DEFAULT_BATCH_ROWS, kepler};
use tiercache_store::{SqlOptions, SqlStore};

use crate::config::ConfigFile;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DatasetArg {
    /// A seeded Kepler-like exoplanet table (9 564 rows by default), keyed by `rowid`.
    Kepler,
}

/// Loads a dataset into the database, one object per row: the key is the row's id, the
/// value the row as a JSON object. Re-running is safe: rows already stored with the same
/// value are skipped (their versions do not move).
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  tiercache load --db sqlite://data/tiercache.db --dataset kepler
  tiercache load --db sqlite://data/tiercache.db --dataset kepler --rows 1000
  tiercache load --db postgres://postgres@127.0.0.1/tiercache --csv cumulative.csv --key kepoi_name

With --csv, lines starting with # are skipped (the NASA archive's header comments), empty
fields become null and numeric fields numbers. The key column must be unique (the
real table repeats kepid, one row per planet candidate: use kepoi_name or rowid).")]
pub struct LoadArgs {
    /// The database: sqlite://PATH (created if missing) or postgres://USER@HOST:PORT/DB
    /// [default: the [store] db of --config, else sqlite://data/tiercache.db].
    #[arg(long, value_name = "URL", env = "TIERCACHE_DB")]
    db: Option<String>,

    /// TOML configuration file; `load` reads the database of its [store] section.
    #[arg(long, value_name = "FILE", env = "TIERCACHE_CONFIG")]
    config: Option<PathBuf>,

    /// A generated dataset.
    #[arg(
        long,
        value_enum,
        value_name = "NAME",
        required_unless_present = "csv",
        conflicts_with = "csv"
    )]
    dataset: Option<DatasetArg>,

    /// Rows of the generated dataset (the real Kepler table has 9 564; the lab also used 1 000).
    #[arg(long, value_name = "N", default_value_t = kepler::FULL_ROWS, requires = "dataset")]
    rows: usize,

    /// Seed of the generated dataset (same seed, same rows).
    #[arg(long, value_name = "S", default_value_t = kepler::DEFAULT_SEED, requires = "dataset")]
    seed: u64,

    /// A CSV file with a header row to load instead of a generated dataset.
    #[arg(long, value_name = "FILE", requires = "key")]
    csv: Option<PathBuf>,

    /// The CSV column whose value becomes each row's key.
    #[arg(long, value_name = "COLUMN", requires = "csv")]
    key: Option<String>,

    /// Rows per transaction.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BATCH_ROWS)]
    batch: usize,

    /// Do not draw the progress bar (it is hidden anyway when stderr is not a terminal).
    #[arg(long)]
    no_progress: bool,
}

/// Loads and prints one summary line.
pub fn run(args: LoadArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    anyhow::ensure!(args.rows > 0, "--rows must be at least 1");
    let db = match &args.db {
        Some(db) => db.clone(),
        None => ConfigFile::load(args.config.as_deref())?.store.db,
    };
    super::runtime()?.block_on(async move {
        let store = SqlStore::open(&db, SqlOptions::default())
            .await
            .with_context(|| format!("opening {}", db))?;
        let (rows, total, source): (Box<dyn Iterator<Item = _>>, Option<u64>, String) =
            match (&args.csv, &args.key) {
                (Some(path), Some(key)) => (
                    Box::new(dataset::csv_rows::read(path, key)?),
                    None,
                    path.display().to_string(),
                ),
                _ => (
                    Box::new(kepler::rows(args.rows, args.seed).map(Ok)),
                    Some(args.rows as u64),
                    format!("kepler ({} rows, seed {})", args.rows, args.seed),
                ),
            };
        let bar = match total {
            Some(total) => super::progress_bar(
                total,
                "{spinner} loading {pos}/{len} rows [{bar:40}] {percent}% {per_sec}",
                args.no_progress,
            ),
            None => super::progress_bar(0, "{spinner} loading {pos} rows {per_sec}", args.no_progress),
        };
        let result = dataset::load(&store, rows, args.batch, |done| bar.set_position(done)).await;
        bar.finish_and_clear();
        store.close().await;
        let report = result.with_context(|| format!("loading {source} into {}", db))?;
        println!(
            "loaded {} rows from {source} into {}: {} written, {} unchanged, in {:.2} s ({:.0} rows/s)",
            report.rows,
            db,
            report.written,
            report.unchanged,
            report.elapsed.as_secs_f64(),
            report.rows_per_second()
        );
        Ok(())
    })
}
