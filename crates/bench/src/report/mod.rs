//! Reports of lab runs, written for people: the text table `tiercache bench` prints after a
//! load run. (The data behind them, serializable as JSON, lives with the run that measures
//! it, e.g. [`LoadReport`](crate::http_load::LoadReport).)
//!
//! # Layout
//! - `load_table`: [`LoadTable`], a load run as a short text table.

mod load_table;

pub use load_table::LoadTable;
