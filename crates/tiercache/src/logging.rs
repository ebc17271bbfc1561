//! What the services write for an operator: events through `tracing`, on stderr, filtered by
//! `--log-level` (else `RUST_LOG`, else `info`) and written as text or one JSON object per
//! line (`--log-format`). stdout stays the commands' own output (tables, `listening on`,
//! JSON listings), so scripts that read it are not disturbed by logs.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

/// The filter when neither `--log-level` nor `RUST_LOG` is given: tiercache's events from
/// `info` up; sqlx would log every statement at `info`, so only its warnings.
const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event: time, level, where, message, fields.
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `message` and the event's
    /// fields), for a log collector.
    Json,
}

/// The logging flags every command takes.
#[derive(Debug, Args)]
pub struct LoggingArgs {
    /// Which events to write, as a filter: a level (`error`, `warn`, `info`, `debug`,
    /// `trace`) or per-module directives (`info,tiercache_node=debug`). Overrides RUST_LOG
    /// [default: RUST_LOG, else info]
    #[arg(
        long,
        global = true,
        value_name = "FILTER",
        env = "TIERCACHE_LOG_LEVEL"
    )]
    log_level: Option<String>,

    /// How log lines are written on stderr: `text` or `json` (one object per line).
    #[arg(
        long,
        global = true,
        value_name = "FORMAT",
        env = "TIERCACHE_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: LogFormat,
}

impl LoggingArgs {
    /// The same settings as flags for a child process (what `up` passes on), empty when
    /// they are the defaults.
    pub fn to_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        if let Some(level) = &self.log_level {
            flags.extend(["--log-level".to_owned(), level.clone()]);
        }
        if self.log_format == LogFormat::Json {
            flags.extend(["--log-format".to_owned(), "json".to_owned()]);
        }
        flags
    }
}

/// Installs the process's subscriber. A filter that does not parse is an error naming
/// where it came from.
pub fn init(args: &LoggingArgs) -> anyhow::Result<()> {
    let filter = match (&args.log_level, std::env::var("RUST_LOG")) {
        (Some(level), _) => EnvFilter::try_new(level).context("--log-level")?,
        (None, Ok(text)) if !text.trim().is_empty() => {
            EnvFilter::try_new(&text).context("RUST_LOG")?
        }
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in log files (`up` keeps one per child).
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    installed.map_err(|error| anyhow::anyhow!("installing the log subscriber: {error}"))
}
