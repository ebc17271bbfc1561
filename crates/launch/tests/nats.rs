//! A local NATS JetStream cluster: three servers routed to each other and healthy, options
//! checked against the installed server, everything stopped and deleted on drop.

use tiercache_launch::{NatsCluster, port_open};

/// The port of a `nats://127.0.0.1:PORT` URL.
fn port(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn three_servers_form_one_healthy_jetstream_cluster_and_go_away_on_drop() {
    let cluster = NatsCluster::start(3, &[]).unwrap_or_else(|error| panic!("{error}"));
    let urls = cluster.urls();
    assert_eq!(urls.len(), 3);
    for server in cluster.servers() {
        assert!(
            port_open(port(&server.url())),
            "{} takes clients",
            server.name()
        );
        let health = server.monitor("/healthz").unwrap();
        assert!(health.contains("\"ok\""), "{}: {health}", server.name());
        let routes = server.monitor("/routez").unwrap();
        assert!(
            routes.contains("\"num_routes\": 2"),
            "{} is routed to the two others: {routes}",
            server.name()
        );
        let jsz = server.monitor("/jsz").unwrap();
        assert!(jsz.contains("\"meta_cluster\""), "{}: {jsz}", server.name());
    }
    let dir = cluster.dir().to_owned();
    assert!(dir.join("n0.log").is_file());
    drop(cluster);
    for url in &urls {
        assert!(!port_open(port(url)), "{url} was stopped");
    }
    assert!(!dir.exists(), "{} was deleted", dir.display());
}

#[test]
fn one_server_alone_runs_plain_jetstream() {
    let cluster = NatsCluster::start(1, &[]).unwrap_or_else(|error| panic!("{error}"));
    let jsz = cluster.servers()[0].monitor("/jsz").unwrap();
    assert!(!jsz.contains("\"meta_cluster\""), "not clustered: {jsz}");
    assert!(jsz.contains("\"config\""), "JetStream is on: {jsz}");
}

#[test]
fn jetstream_options_are_checked_against_the_installed_server() {
    assert!(NatsCluster::accepts_jetstream_option("max_file_store: 1073741824").unwrap());
    assert!(!NatsCluster::accepts_jetstream_option("no_such_option: 1").unwrap());
    let version = NatsCluster::version().unwrap();
    assert!(version.starts_with("nats-server: v"), "{version}");
}
