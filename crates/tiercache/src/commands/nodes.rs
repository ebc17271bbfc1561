//! `tiercache nodes`: the live nodes in the binder (the store's registry).

use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use serde::Serialize;
use tiercache_store::Registration;

/// Lists the live nodes registered in the store's registry: role, id, address, and how long
/// until the entry expires unless renewed.
#[derive(Debug, Args)]
#[command(after_help = "EXAMPLES:
  tiercache nodes --store http://127.0.0.1:7070
  tiercache nodes --store sqlite://data/tiercache.db --role api --json

Every node renews its entry each heartbeat (the entry lives three); a stopped node is
removed at once, a killed one once its entry expires. \"expires in\" is reckoned on this
machine's clock against the store's.
--json prints one document: {\"nodes\":[{\"role\",\"id\",\"address\",\"expires_at_ms\",\"expires_in_ms\"},…]}.")]
pub struct NodesArgs {
    /// The store: http://HOST:PORT of a `tiercache store`, or a database URL (sqlite://PATH,
    /// postgres://…).
    #[arg(long, value_name = "URL", env = "TIERCACHE_STORE")]
    store: String,

    /// Only this role [default: api, admin and log].
    #[arg(long, value_name = "ROLE")]
    role: Option<String>,

    /// Print one JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

/// One line of the listing.
#[derive(Debug, Serialize)]
struct Node {
    role: String,
    id: String,
    address: String,
    /// When the entry expires unless renewed (ms since the Unix epoch, the store's clock).
    expires_at_ms: i64,
    /// How long until then, on this machine's clock.
    expires_in_ms: i64,
}

/// Prints the live nodes.
pub fn run(args: NodesArgs) -> anyhow::Result<()> {
    let roles: Vec<&str> = match &args.role {
        Some(role) => vec![role.as_str()],
        None => tiercache_deploy::ROLES.to_vec(),
    };
    let live = super::runtime()?.block_on(tiercache_deploy::lookup(&args.store, &roles))?;
    let now_ms = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    let nodes: Vec<Node> = live
        .into_iter()
        .map(|entry: Registration| Node {
            expires_in_ms: entry.expires_at_ms - now_ms,
            expires_at_ms: entry.expires_at_ms,
            role: entry.role,
            id: entry.id,
            address: entry.address,
        })
        .collect();
    if args.json {
        println!("{}", serde_json::json!({ "nodes": nodes }));
        return Ok(());
    }
    let width = |column: fn(&Node) -> &str, title: &str| {
        nodes
            .iter()
            .map(|node| column(node).chars().count())
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let (role, id, address) = (
        width(|n| &n.role, "ROLE"),
        width(|n| &n.id, "ID"),
        width(|n| &n.address, "ADDRESS"),
    );
    println!(
        "{:role$}  {:id$}  {:address$}  EXPIRES IN",
        "ROLE", "ID", "ADDRESS"
    );
    for node in &nodes {
        println!(
            "{:role$}  {:id$}  {:address$}  {:.1}s",
            node.role,
            node.id,
            node.address,
            node.expires_in_ms.max(0) as f64 / 1000.0
        );
    }
    if nodes.is_empty() {
        eprintln!("no live node of {} in {}", roles.join(", "), args.store);
    }
    Ok(())
}
