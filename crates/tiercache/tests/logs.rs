//! Application logs with real processes started by `tiercache up`: two of a log's three
//! nodes killed (reads answer from the last copy, appends wait for the admin's
//! replacements, which catch up), and a log node and an API node killed with `kill -9`
//! during appends from several clients, checked afterwards: no acknowledged message lost,
//! none unexpected, each client's order kept, duplicates counted.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use common::{address, of_role, up};

fn by_id<'a>(processes: &'a [Value], id: &str) -> &'a Value {
    processes.iter().find(|p| p["id"] == id).unwrap()
}

/// One HTTP exchange that may fail (a killed node): (status, JSON body) or why not.
fn request(
    address: &str,
    method: &str,
    path: &str,
    body: &str,
    key: Option<&str>,
) -> Result<(u16, Value), String> {
    let mut stream = TcpStream::connect(address).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let key = key
        .map(|k| format!("Idempotency-Key: {k}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{key}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    if answer.len() < 12 {
        return Err(format!("a cut answer: {answer:?}"));
    }
    let status = answer[9..12]
        .parse()
        .map_err(|e| format!("{e}: {answer}"))?;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// The active admin's view of `app`'s copies (polled until an admin is active).
fn copies(admins: &[&Value], app: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for admin in admins {
            if let Ok((200, status)) = request(&address(admin), "GET", "/v1/admin", "", None)
                && status["role"] == "active"
                && let Some(copies) = status["logs"][app].as_array()
            {
                return copies.clone();
            }
        }
        assert!(Instant::now() < deadline, "no active admin shows {app}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn kill9(process: &Value) {
    let pid = process["pid"].as_u64().unwrap() as i32;
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
}

/// Polls `check` every 100 ms for at most `within`.
fn eventually(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "after {within:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn with_two_of_three_copies_killed_reads_answer_and_appends_wait_for_the_replacements() {
    let dir = tempfile::tempdir().unwrap();
    let (up, processes) = up(
        dir.path(),
        &["--nodes", "1", "--log-nodes", "5"],
        &[("TIERCACHE_LOG_TIMEOUT_MS", "1000")],
    );
    let api = address(of_role(&processes, "api")[0]);
    let admins = of_role(&processes, "admin");
    for n in 0..10 {
        let (code, body) = request(&api, "POST", "/v1/logs/shop", &format!("m{n}"), None).unwrap();
        assert_eq!(code, 200, "{body}");
    }
    let placed: Vec<String> = copies(&admins, "shop")
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(placed.len(), 3);
    kill9(by_id(&processes, &placed[0]));
    kill9(by_id(&processes, &placed[1]));
    std::thread::sleep(Duration::from_millis(200));

    // Reads answer from the one copy left, saying so.
    let (code, read) = request(&api, "GET", "/v1/logs/shop", "", None).unwrap();
    assert_eq!(code, 200, "{read}");
    assert_eq!(read["replicas"]["answered"], 1, "{read}");
    assert_eq!(read["replicas"]["assigned"], 3, "{read}");
    assert_eq!(read["messages"].as_array().unwrap().len(), 10, "{read}");
    // An append needing two confirmations cannot have them: 503, with its id.
    let (code, short) = request(&api, "POST", "/v1/logs/shop", "during", Some("k-during")).unwrap();
    assert_eq!(code, 503, "{short}");
    assert_eq!(short["acks"], 1, "{short}");
    assert!(
        short["id"].as_str().is_some_and(|id| id.len() == 34),
        "{short}"
    );

    // Once the dead nodes' binder entries lapse, the admin replaces them; the replacements
    // catch up and the retry (same key) succeeds.
    eventually("an append succeeds again", Duration::from_secs(40), || {
        matches!(
            request(&api, "POST", "/v1/logs/shop", "during", Some("k-during")),
            Ok((200, _))
        )
    });
    eventually(
        "three ready copies, none behind",
        Duration::from_secs(20),
        || {
            let now = copies(&admins, "shop");
            now.len() == 3
                && now
                    .iter()
                    .all(|c| c["ready"] == true && c["behind"] == 0 && c["len"] == 11)
                && now
                    .iter()
                    .all(|c| !placed[..2].contains(&c["id"].as_str().unwrap().to_owned()))
        },
    );
    // The API node learns the new nodes at its next read (a copy that did not answer makes
    // it ask the admin again).
    let mut read = Value::Null;
    eventually(
        "reads answered by the three new copies",
        Duration::from_secs(5),
        || {
            read = request(&api, "GET", "/v1/logs/shop", "", None).unwrap().1;
            read["replicas"]["answered"] == 3
        },
    );
    let values: Vec<&str> = read["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(values.len(), 11, "the retry was stored once: {read}");
    assert_eq!(values.iter().filter(|v| **v == "during").count(), 1);
    drop(up);
}

/// What one client did: its messages in the order it sent them, and which were confirmed.
struct History {
    sent: Vec<String>,
    acknowledged: BTreeSet<String>,
    retries: usize,
}

/// Sends `count` messages `c{client}-{n}` with the same value as Idempotency-Key, each
/// retried (same key) on the other API node after an error or a 503, at most 40 times.
fn client(client: usize, apis: Vec<String>, count: usize, done: Arc<AtomicUsize>) -> History {
    let mut history = History {
        sent: Vec::new(),
        acknowledged: BTreeSet::new(),
        retries: 0,
    };
    for n in 0..count {
        let value = format!("c{client}-{n}");
        history.sent.push(value.clone());
        for attempt in 0..40 {
            let api = &apis[(client + attempt) % apis.len()];
            match request(api, "POST", "/v1/logs/orders", &value, Some(&value)) {
                Ok((200, _)) => {
                    history.acknowledged.insert(value.clone());
                    done.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                _ => {
                    history.retries += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        // Paced, so the kills below land in the middle of the run.
        std::thread::sleep(Duration::from_millis(10));
    }
    history
}

#[test]
fn no_acknowledged_message_is_lost_when_a_log_node_and_an_api_node_are_killed() {
    let dir = tempfile::tempdir().unwrap();
    let (up, processes) = up(
        dir.path(),
        &["--nodes", "2", "--restart"],
        &[("TIERCACHE_LOG_TIMEOUT_MS", "2000")],
    );
    let apis: Vec<String> = of_role(&processes, "api")
        .iter()
        .map(|p| address(p))
        .collect();
    let admins = of_role(&processes, "admin");
    let (code, body) =
        request(&apis[0], "POST", "/v1/logs/orders", "start", Some("start")).unwrap();
    assert_eq!(code, 200, "{body}");
    let placed = copies(&admins, "orders");
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (apis, done) = (apis.clone(), done.clone());
            std::thread::spawn(move || client(c, apis, 150, done))
        })
        .collect();
    let progress = |at: usize| {
        eventually("the clients progress", Duration::from_secs(60), || {
            done.load(Ordering::Relaxed) >= at
        })
    };
    progress(150);
    kill9(by_id(&processes, placed[0]["id"].as_str().unwrap()));
    progress(300);
    kill9(by_id(&processes, "api-2"));
    let histories: Vec<History> = clients.into_iter().map(|c| c.join().unwrap()).collect();

    // The restarted log node catches up: every copy ready, none behind.
    eventually("every copy caught up", Duration::from_secs(30), || {
        let now = copies(&admins, "orders");
        now.iter().all(|c| c["ready"] == true && c["behind"] == 0)
    });
    // Read everything back, page by page.
    let mut read = Vec::new();
    let mut after = String::new();
    loop {
        let path = format!("/v1/logs/orders?limit=50&after={after}");
        let (code, page) = request(&apis[0], "GET", &path, "", None).unwrap();
        assert_eq!(code, 200, "{page}");
        assert_eq!(page["replicas"]["answered"], 3, "{page}");
        let messages = page["messages"].as_array().unwrap();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            read.push(message["value"].as_str().unwrap().to_owned());
        }
        after = page["next"].as_str().unwrap().to_owned();
    }

    let sent: BTreeSet<&String> = histories.iter().flat_map(|h| &h.sent).collect();
    let mut seen: BTreeMap<&String, usize> = BTreeMap::new();
    for value in &read {
        *seen.entry(value).or_default() += 1;
    }
    let lost: Vec<&String> = histories
        .iter()
        .flat_map(|h| &h.acknowledged)
        .filter(|v| !seen.contains_key(v))
        .collect();
    let unexpected: Vec<&String> = seen
        .keys()
        .filter(|v| ***v != "start" && !sent.contains(*v))
        .copied()
        .collect();
    let duplicated: Vec<&String> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(v, _)| *v)
        .collect();
    let retries: usize = histories.iter().map(|h| h.retries).sum();
    let acknowledged: usize = histories.iter().map(|h| h.acknowledged.len()).sum();
    eprintln!(
        "checker: {acknowledged} acknowledged, {} read, {retries} retries (all with their \
         Idempotency-Key), lost {lost:?}, unexpected {unexpected:?}, duplicated {duplicated:?}",
        read.len()
    );
    assert!(lost.is_empty(), "acknowledged messages lost: {lost:?}");
    assert!(unexpected.is_empty(), "{unexpected:?}");
    assert!(
        duplicated.is_empty(),
        "every retry carried its key: {duplicated:?}"
    );
    assert!(
        acknowledged >= 500,
        "most appends were confirmed: {acknowledged}"
    );
    assert!(retries > 0, "the API node was killed while clients used it");
    // Each client's messages are read in the order it sent them.
    for history in &histories {
        let order: Vec<&String> = read.iter().filter(|v| history.sent.contains(v)).collect();
        let expected: Vec<&String> = history
            .sent
            .iter()
            .filter(|v| seen.contains_key(v))
            .collect();
        assert_eq!(order, expected, "one client's order");
    }
    drop(up);
}

#[test]
fn a_log_node_cut_off_the_bus_stops_counting_and_catches_up_when_back() {
    let dir = tempfile::tempdir().unwrap();
    let (up, processes) = up(dir.path(), &["--nodes", "1"], &[]);
    let api = address(of_role(&processes, "api")[0]);
    let admins = of_role(&processes, "admin");
    let (code, body) = request(&api, "POST", "/v1/logs/feed", "before", None).unwrap();
    assert_eq!(code, 200, "{body}");
    let placed = copies(&admins, "feed");
    let frozen = by_id(&processes, placed[2]["id"].as_str().unwrap());
    let frozen_id = frozen["id"].as_str().unwrap().to_owned();
    let pid = Pid::from_raw(frozen["pid"].as_u64().unwrap() as i32);
    // Frozen past its bus session's lease (3 s) but not its binder entry's (6 s): the bus
    // drops its subscription, the admin keeps it placed.
    kill(pid, Signal::SIGSTOP).unwrap();
    std::thread::sleep(Duration::from_millis(3500));
    let mut confirmed_by = BTreeSet::new();
    for n in 0..10 {
        let (code, body) = request(
            &api,
            "POST",
            "/v1/logs/feed",
            &format!("while cut {n}"),
            None,
        )
        .unwrap();
        assert_eq!(code, 200, "two copies still confirm: {body}");
        for node in body["nodes"].as_array().unwrap() {
            confirmed_by.insert(node.as_str().unwrap().to_owned());
        }
    }
    assert!(!confirmed_by.contains(&frozen_id), "{confirmed_by:?}");
    kill(pid, Signal::SIGCONT).unwrap();
    // Back: its lost session is replaced, it subscribes again, copies what it missed, and
    // only then counts again.
    eventually(
        "the cut-off copy caught up",
        Duration::from_secs(20),
        || {
            copies(&admins, "feed")
                .iter()
                .all(|c| c["ready"] == true && c["len"] == 11 && c["behind"] == 0)
        },
    );
    let status = request(&address(frozen), "GET", "/v1/log", "", None)
        .unwrap()
        .1;
    assert!(status["session"]["lost"].as_u64().unwrap() >= 1, "{status}");
    // What reached it while its session was lost (Redis may still hand over what it had
    // buffered for the frozen connection) was stored but never acknowledged; anything it
    // missed was pulled from the others.
    let counters = &status["counters"];
    assert!(counters["acks"].as_u64().unwrap() <= 1, "{status}");
    let held_back = counters["held_back"].as_u64().unwrap();
    let pulled = counters["pulled"].as_u64().unwrap();
    assert!(held_back + pulled >= 10, "{status}");
    eventually("it confirms appends again", Duration::from_secs(10), || {
        let (_, body) = request(&api, "POST", "/v1/logs/feed", "after", None).unwrap();
        body["nodes"]
            .as_array()
            .is_some_and(|nodes| nodes.iter().any(|n| n == &frozen_id[..]))
    });
    drop(up);
}
