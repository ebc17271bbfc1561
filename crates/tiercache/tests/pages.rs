//! The pages people look at, in a real browser (headless Chromium): the live dashboard of
//! an API node under load, and the lab's report. Screenshots are saved as test artifacts
//! under the target directory's `tmp/` (printed by the tests).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tiercache_testkit::browser::{Browser, Page};

use common::{run, start, terminate};

/// Where screenshots go.
fn artifact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("screenshots")
        .join(name)
}

/// Reads keys `1..=500` (and writes one in fifty) over one kept-alive connection until
/// `stop` or 60 s; returns how many requests were answered.
fn load(address: String, stop: Arc<AtomicBool>) -> u64 {
    let mut answered = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut stream = TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut key = 0u64;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        key = key % 500 + 1;
        let request = if key.is_multiple_of(50) {
            let body = format!("{{\"written\":{answered}}}");
            format!(
                "PUT /v1/objects/{key} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        } else {
            format!("GET /v1/objects/{key} HTTP/1.1\r\nHost: x\r\n\r\n")
        };
        if stream.write_all(request.as_bytes()).is_err() {
            break;
        }
        // Read one answer: headers, then Content-Length bytes.
        let mut got = Vec::new();
        let complete = loop {
            let Ok(read) = stream.read(&mut buffer) else {
                break false;
            };
            if read == 0 {
                break false;
            }
            got.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&got);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    break true;
                }
            }
        };
        if !complete {
            break;
        }
        answered += 1;
        std::thread::sleep(Duration::from_micros(200));
    }
    answered
}

fn text(page: &mut Page, id: &str) -> String {
    page.eval(&format!("document.getElementById('{id}').textContent"))
        .unwrap()
        .as_str()
        .unwrap_or("")
        .to_owned()
}

fn number(text: &str) -> f64 {
    text.replace(',', "").trim().parse().unwrap_or(f64::NAN)
}

#[test]
fn the_dashboard_shows_live_numbers_and_says_when_the_node_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let node = start(
        &[
            "serve",
            "--data",
            &data,
            "--listen",
            "127.0.0.1:0",
            "--no-progress",
        ],
        dir.path(),
        1,
    );
    let address = node.addresses()[0].clone();
    let stop = Arc::new(AtomicBool::new(false));
    let loader = {
        let (address, stop) = (address.clone(), Arc::clone(&stop));
        std::thread::spawn(move || load(address, stop))
    };

    let mut browser = Browser::launch().unwrap();
    let mut page = browser.open(&format!("http://{address}/")).unwrap();
    // Two polls give rates (five give the sparklines something to draw for the
    // screenshot); then one more poll must change the numbers.
    page.wait_until(
        "Number(document.body.dataset.polls) >= 5",
        Duration::from_secs(20),
    )
    .unwrap();
    let polls = page.eval("Number(document.body.dataset.polls)").unwrap();
    let reads_before = number(&text(&mut page, "reads-total"));
    page.wait_until(
        &format!("Number(document.body.dataset.polls) > {polls}"),
        Duration::from_secs(10),
    )
    .unwrap();
    let reads_after = number(&text(&mut page, "reads-total"));
    assert!(
        reads_after > reads_before,
        "reads did not change between two polls: {reads_before} then {reads_after}"
    );
    let rate = number(&text(&mut page, "rate"));
    assert!(rate > 0.0, "request rate {rate} under load");
    assert_eq!(page.eval("document.body.dataset.state").unwrap(), "live");
    for id in [
        "near-hit",
        "lat-near-p50",
        "near-fill",
        "published",
        "subscriptions",
    ] {
        let shown = text(&mut page, id);
        assert!(shown != "–" && !shown.is_empty(), "{id} shows nothing");
    }
    // The shares shown add up to the whole bar.
    let bar: f64 = page
        .eval("['near','shared','store'].map(t => parseFloat(document.getElementById('share-' + t).style.width)).reduce((a, b) => a + b, 0)")
        .unwrap()
        .as_f64()
        .unwrap();
    assert!((bar - 100.0).abs() < 0.5, "share bar covers {bar}%");
    let shot = artifact("dashboard.png");
    page.screenshot(&shot).unwrap();
    println!("dashboard screenshot: {}", shot.display());
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
    assert_eq!(page.errors(), Vec::<String>::new());

    // The node goes away: the page says so, plainly, and keeps the last numbers.
    stop.store(true, Ordering::Relaxed);
    assert!(loader.join().unwrap() > 0);
    terminate(node);
    page.wait_until(
        "document.body.dataset.state === 'unreachable'",
        Duration::from_secs(10),
    )
    .unwrap();
    let banner = page
        .eval("getComputedStyle(document.getElementById('banner')).display")
        .unwrap();
    assert_eq!(banner, "block");
    assert!(text(&mut page, "banner").contains("cannot be reached"));
    // The last numbers stay on the page.
    let kept = number(&text(&mut page, "reads-total"));
    assert!(kept >= reads_after, "the page dropped its numbers: {kept}");
    page.screenshot(&artifact("dashboard-unreachable.png"))
        .unwrap();
}

#[test]
fn the_lab_quick_report_has_its_files_findings_and_charts_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (ok, stdout, stderr) = run(
        &["lab", "--quick", "--out", "report", "--no-progress"],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    println!("lab --quick took {:?}", started.elapsed());
    let report = dir.path().join("report");
    assert!(
        stdout.trim_end().ends_with(&format!(
            "report: {}",
            PathBuf::from("report/index.html").display()
        )),
        "{stdout}"
    );

    // results.json: the finding the lab exists for. At equal memory per node the partitioned
    // tier holds three nodes' worth, and on Zipf 0.99 over a table much larger than one node
    // (1 000 rows ≈ 350 KiB, 48 KiB per node) it hits more often than the centralized one.
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("results.json")).unwrap())
            .unwrap();
    let outcomes = results["outcomes"].as_array().unwrap();
    assert!(outcomes.len() >= 20, "{} configurations", outcomes.len());
    let tier_hit = |topology: &str, memory: &str| {
        outcomes
            .iter()
            .find(|o| {
                let c = &o["config"];
                c["topology"] == topology
                    && c["memory"] == memory
                    && c["policy"] == "allkeys-lfu"
                    && c["workload"] == "zipf:0.99"
                    && c["near"] == true
                    && c["clients"] == 8
            })
            .map(|o| o["tier_hit_ratio"].as_f64().unwrap())
            .unwrap()
    };
    let table_bytes = results["curves"][0]["table_bytes"].as_u64().unwrap();
    assert!(table_bytes > results["plan"]["budget"].as_u64().unwrap() * 3);
    assert!(
        tier_hit("partitioned", "per-node") > tier_hit("centralized", "per-node") + 0.05,
        "partitioned {} vs centralized {}",
        tier_hit("partitioned", "per-node"),
        tier_hit("centralized", "per-node")
    );
    for o in outcomes {
        assert_eq!(o["errors"], 0, "{}", o["id"]);
        // No policy beats the optimum on the same requests (the tier sees fewer, skewed
        // requests behind the near caches, so this is context, with room for that).
        let belady = o["belady_hit_ratio"].as_f64().unwrap();
        assert!(belady > 0.0 && belady <= 1.0, "{}", o["id"]);
    }
    let csv = std::fs::read_to_string(report.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), outcomes.len() + 1);
    assert!(csv.starts_with("id,topology,near,policy,memory,workload"));
    let page_text = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(
        page_text.contains("at equal total memory"),
        "the report says nothing of equal total memory"
    );
    assert!(page_text.contains("Partitioned + LFU serves best"));
    // Self-contained: nothing is loaded from anywhere.
    for reference in [
        "src=\"http",
        "href=\"http",
        "<script src",
        "<link rel=\"stylesheet\"",
    ] {
        assert!(
            !page_text.contains(reference),
            "the report loads {reference}…"
        );
    }

    // In the browser: every chart drew something, nothing failed to load.
    let mut browser = Browser::launch().unwrap();
    let url = format!("file://{}", report.join("index.html").display());
    let mut page = browser.open(&url).unwrap();
    let charts = page
        .eval("document.querySelectorAll('figure.chart svg').length")
        .unwrap()
        .as_u64()
        .unwrap();
    assert!(charts >= 5, "{charts} charts");
    let empty = page
        .eval(
            "[...document.querySelectorAll('figure.chart')].filter(f => { \
               const svg = f.querySelector('svg'); \
               const box = svg.getBBox(); \
               const marks = svg.querySelectorAll('polyline,path,rect,circle,line').length; \
               return box.width < 100 || box.height < 100 || marks < 10; \
             }).map(f => f.id)",
        )
        .unwrap();
    assert_eq!(empty, serde_json::json!([]), "charts that drew nothing");
    let shot = artifact("lab-report.png");
    page.screenshot(&shot).unwrap();
    println!("report screenshot: {}", shot.display());
    assert_eq!(page.errors(), Vec::<String>::new());
}

#[test]
fn the_admin_dashboard_shows_every_registered_api_node() {
    let dir = tempfile::tempdir().unwrap();
    let (up, processes) = common::up(dir.path(), &["--nodes", "2", "--log-nodes", "0"], &[]);
    let apis: Vec<String> = common::of_role(&processes, "api")
        .into_iter()
        .map(common::address)
        .collect();
    assert_eq!(apis.len(), 2);
    let admin = common::address(common::of_role(&processes, "admin")[0]);
    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = apis
        .iter()
        .map(|address| {
            let (address, stop) = (address.clone(), Arc::clone(&stop));
            std::thread::spawn(move || load(address, stop))
        })
        .collect();

    let mut browser = Browser::launch().unwrap();
    let mut page = browser.open(&format!("http://{admin}/")).unwrap();
    // Both nodes listed, both answering, and traffic seen across two polls.
    page.wait_until(
        "document.querySelectorAll('#rows tr[data-node]:not(.down)').length === 2 \
         && Number(document.getElementById('rate-total').textContent.replace(/,/g, '')) > 0",
        Duration::from_secs(30),
    )
    .unwrap();
    let shown: Vec<String> = serde_json::from_value(
        page.eval("[...document.querySelectorAll('#rows tr[data-node] td:nth-child(2)')].map(td => td.textContent)")
            .unwrap(),
    )
    .unwrap();
    for address in &apis {
        assert!(
            shown.iter().any(|s| s.contains(address.as_str())),
            "{address} not in {shown:?}"
        );
    }
    assert_eq!(
        page.eval("document.getElementById('nodes-up').textContent")
            .unwrap(),
        "2 / 2"
    );
    let shot = artifact("admin-dashboard.png");
    page.screenshot(&shot).unwrap();
    println!("admin dashboard screenshot: {}", shot.display());
    assert_eq!(page.errors(), Vec::<String>::new());
    stop.store(true, Ordering::Relaxed);
    for loader in loaders {
        assert!(loader.join().unwrap() > 0);
    }
    terminate(up);
}

#[test]
fn a_secured_node_s_dashboard_polls_with_the_token_of_its_fragment() {
    let dir = tempfile::tempdir().unwrap();
    let admin = "admin-token-0123456789abcdef";
    std::fs::write(
        dir.path().join("tokens"),
        format!("{admin} admin\nreader-token-0123456789 read\n"),
    )
    .unwrap();
    let data = dir.path().join("data").display().to_string();
    let node = start(
        &[
            "serve",
            "--data",
            &data,
            "--listen",
            "127.0.0.1:0",
            "--no-progress",
            "--auth-tokens",
            "tokens",
        ],
        dir.path(),
        1,
    );
    let address = node.addresses()[0].clone();
    let mut browser = Browser::launch().unwrap();
    // Without a token the page loads, and says what it needs instead of numbers.
    let mut bare = browser.open(&format!("http://{address}/")).unwrap();
    bare.wait_until(
        "document.body.dataset.state === 'unreachable'",
        Duration::from_secs(10),
    )
    .unwrap();
    let why = text(&mut bare, "why");
    assert!(why.contains("401") && why.contains("#token="), "{why}");
    // A read token is not enough for the stats.
    let mut reader = browser
        .open(&format!("http://{address}/#token=reader-token-0123456789"))
        .unwrap();
    reader
        .wait_until(
            "document.body.dataset.state === 'unreachable'",
            Duration::from_secs(10),
        )
        .unwrap();
    assert!(text(&mut reader, "why").contains("403"));
    // The admin token in the fragment: live numbers.
    let mut page = browser
        .open(&format!("http://{address}/#token={admin}"))
        .unwrap();
    page.wait_until(
        "Number(document.body.dataset.polls) >= 2",
        Duration::from_secs(20),
    )
    .unwrap();
    assert_eq!(page.eval("document.body.dataset.state").unwrap(), "live");
    assert_eq!(page.errors(), Vec::<String>::new());
}
