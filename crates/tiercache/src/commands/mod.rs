//! One module per subcommand, plus what several of them share.

pub mod admin;
pub mod api;
pub mod bench;
pub mod certs;
pub mod demo;
pub mod lab;
pub mod load;
pub mod lognode;
pub mod node_args;
pub mod nodes;
pub mod serve;
pub mod sim;
pub mod store;
pub mod up;

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar on stderr with `template`, or a hidden one when `--no-progress` was given
/// or stderr is not a terminal (so logs and pipes stay clean).
pub fn progress_bar(total: u64, template: &str, no_progress: bool) -> ProgressBar {
    if no_progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    ProgressBar::new(total).with_style(
        ProgressStyle::with_template(template)
            .expect("progress templates are static and valid")
            .progress_chars("=> "),
    )
}

/// Loads the dataset when the store holds no object at all, with a progress bar; returns
/// how many rows were written.
pub async fn load_dataset_if_empty(
    store: &dyn tiercache_store::ObjectStore,
    no_progress: bool,
) -> anyhow::Result<u64> {
    if !tiercache_deploy::store_is_empty(store).await? {
        return Ok(0);
    }
    let bar = progress_bar(
        tiercache_deploy::DATASET_ROWS,
        "loading the Kepler-like dataset {bar:30} {pos}/{len} rows",
        no_progress,
    );
    let written = tiercache_deploy::load_dataset(store, |done| bar.set_position(done)).await;
    bar.finish_and_clear();
    Ok(written?)
}

/// A multi-threaded tokio runtime for the commands that serve or talk over the network.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// A tokio runtime on one thread (plus the blocking pool).
pub fn single_thread_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Completes on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: call it before printing `listening on`, so a signal sent as
/// soon as that line appears is never met by the default action (death by the signal).
/// Must be called inside a tokio runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    }
}
