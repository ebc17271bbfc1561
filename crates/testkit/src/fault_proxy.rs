//! A TCP proxy that injects network faults between a client and a real server: added
//! latency with jitter, connections cut at random, connections reset on demand, and a
//! blackhole (a partition) — each switchable while a test runs. And process pauses
//! ([`Paused`]: SIGSTOP until dropped).
//!
//! ```text
//! client ──► proxy (127.0.0.1:P) ──► upstream (a redis-server, the store, a log node)
//!            per direction: reader ─(chunk, deliver at)─► writer
//! ```
//!
//! What each fault means here:
//!
//! | fault | effect |
//! |---|---|
//! | `latency` + `jitter` | every chunk is delivered `latency + U(0, jitter)` after it was read, in order (never before an earlier chunk of its direction) |
//! | `drop_rate` | each chunk cuts its connection with probability `drop_rate`: both sides get a reset. A proxy cannot lose bytes without corrupting the stream, as a real network's lost segment is retransmitted: a cut is what a loss becomes when it lasts |
//! | `blackhole` | nothing moves and nothing is refused: data waits (and, once the buffers are full, the senders block), new connections are accepted but not connected upstream; no FIN, no RST — as a partition. Healing lets everything that waited through, in order |
//! | [`FaultProxy::reset_connections`] | every open connection is aborted at once (RST to both sides); new ones are served |
//!
//! Threads, not tasks: the proxy works the same under a sync test and any runtime. Every
//! thread wakes at least every 50 ms to see changes, and all stop when the proxy is dropped.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a waiting thread looks at the proxy's state.
const TICK: Duration = Duration::from_millis(50);

/// The faults applied right now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// Added to every chunk's delivery.
    pub latency: Duration,
    /// Up to this much more, uniformly at random per chunk.
    pub jitter: Duration,
    /// The chance that a chunk cuts its connection (0 to 1).
    pub drop_rate: f64,
    /// Nothing moves while set.
    pub blackhole: bool,
}

/// What the proxy shares with its threads.
struct Shared {
    upstream: SocketAddr,
    faults: Mutex<Faults>,
    /// Signalled whenever the faults change, so blackholed threads move on at once.
    changed: Condvar,
    /// Bumped by `reset_connections`: a connection older than it aborts.
    reset_epoch: AtomicU64,
    stopping: AtomicBool,
    /// Connections open now, and accepted in all.
    open: AtomicU64,
    accepted: AtomicU64,
    /// For the random cuts and jitter.
    random: Mutex<u64>,
}

impl Shared {
    fn faults(&self) -> Faults {
        *self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits (bounded by `TICK` per look) while the blackhole is on; false if the proxy
    /// stops or `epoch` was reset meanwhile.
    fn wait_out_blackhole(&self, epoch: u64) -> bool {
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        while faults.blackhole {
            if self.stopping.load(Ordering::Relaxed)
                || self.reset_epoch.load(Ordering::Relaxed) != epoch
            {
                return false;
            }
            faults = self
                .changed
                .wait_timeout(faults, TICK)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// A uniform number in [0, 1).
    fn uniform(&self) -> f64 {
        let mut state = self.random.lock().unwrap_or_else(|p| p.into_inner());
        // xorshift64*: plenty for choosing faults.
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let value = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (value >> 11) as f64 / (1u64 << 53) as f64
    }

    fn live(&self, epoch: u64) -> bool {
        !self.stopping.load(Ordering::Relaxed) && self.reset_epoch.load(Ordering::Relaxed) == epoch
    }
}

/// A fault-injecting TCP proxy to one upstream address, on a free loopback port.
pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` with no fault. `seed` drives the random choices (cuts,
    /// jitter), so a failing run can be repeated.
    pub fn start(upstream: SocketAddr, seed: u64) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            upstream,
            faults: Mutex::new(Faults::default()),
            changed: Condvar::new(),
            reset_epoch: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            open: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            random: Mutex::new(seed | 1),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("fault-proxy {address}"))
                .spawn(move || accept_loop(listener, shared))?
        };
        Ok(FaultProxy {
            address,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// Where clients connect.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The upstream it forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Applies `faults` from now on (to open connections too).
    pub fn set(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap_or_else(|p| p.into_inner()) = faults;
        self.shared.changed.notify_all();
    }

    /// The faults applied now.
    pub fn faults(&self) -> Faults {
        self.shared.faults()
    }

    /// Cuts the network: nothing moves until [`FaultProxy::heal`].
    pub fn blackhole(&self) {
        self.set(Faults {
            blackhole: true,
            ..self.faults()
        });
    }

    /// Removes every fault.
    pub fn heal(&self) {
        self.set(Faults::default());
    }

    /// Aborts every open connection now (both sides see a reset); later ones are served.
    pub fn reset_connections(&self) {
        self.shared.reset_epoch.fetch_add(1, Ordering::SeqCst);
        self.shared.changed.notify_all();
    }

    /// Connections open now.
    pub fn open_connections(&self) -> u64 {
        self.shared.open.load(Ordering::Relaxed)
    }

    /// Connections accepted since the start.
    pub fn accepted_connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stopping.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((client, _)) => {
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                let shared = Arc::clone(&shared);
                connections.push(std::thread::spawn(move || serve_connection(client, shared)));
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(TICK),
        }
        connections.retain(|handle| !handle.is_finished());
    }
    for connection in connections {
        let _ = connection.join();
    }
}

/// One client's connection: connect upstream (after any blackhole), then pump both ways
/// until either side closes, a cut, a reset or the proxy's end.
fn serve_connection(client: TcpStream, shared: Arc<Shared>) {
    let epoch = shared.reset_epoch.load(Ordering::SeqCst);
    let _ = client.set_nonblocking(false);
    if !shared.wait_out_blackhole(epoch) {
        abort(&client);
        return;
    }
    let Ok(server) = TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(5)) else {
        abort(&client);
        return;
    };
    shared.open.fetch_add(1, Ordering::Relaxed);
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let cut = Arc::new(AtomicBool::new(false));
    let pumps = [(&client, &server), (&server, &client)].map(|(from, to)| {
        let (from, to) = (from.try_clone(), to.try_clone());
        let (shared, cut) = (Arc::clone(&shared), Arc::clone(&cut));
        std::thread::spawn(move || {
            if let (Ok(from), Ok(to)) = (from, to) {
                pump(from, to, &shared, epoch, &cut);
            }
        })
    });
    for pump in pumps {
        let _ = pump.join();
    }
    if cut.load(Ordering::SeqCst) || !shared.live(epoch) {
        abort(&client);
        abort(&server);
    }
    shared.open.fetch_sub(1, Ordering::Relaxed);
}

/// Copies `from` to `to` with the faults applied; on a cut, a reset or the proxy's end, sets
/// `cut` (unless the peer simply closed) and shuts both down so the other direction ends too.
fn pump(mut from: TcpStream, to: TcpStream, shared: &Shared, epoch: u64, cut: &AtomicBool) {
    let _ = from.set_read_timeout(Some(TICK));
    let (chunks, delivered) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = {
        let to = match to.try_clone() {
            Ok(to) => to,
            Err(_) => return,
        };
        std::thread::spawn(move || deliver(delivered, to))
    };
    let mut buffer = vec![0u8; 64 * 1024];
    let mut last_delivery = Instant::now();
    let mut aborted = false;
    loop {
        if !shared.live(epoch) || cut.load(Ordering::SeqCst) {
            aborted = true;
            break;
        }
        let read = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => {
                aborted = true;
                break;
            }
        };
        if !shared.wait_out_blackhole(epoch) {
            aborted = true;
            break;
        }
        let faults = shared.faults();
        if faults.drop_rate > 0.0 && shared.uniform() < faults.drop_rate {
            aborted = true;
            break;
        }
        let delay = faults.latency + faults.jitter.mul_f64(shared.uniform());
        let at = (Instant::now() + delay).max(last_delivery);
        last_delivery = at;
        if chunks.send((at, buffer[..read].to_vec())).is_err() {
            aborted = true;
            break;
        }
    }
    drop(chunks);
    if aborted {
        cut.store(true, Ordering::SeqCst);
        let _ = from.shutdown(Shutdown::Read);
        let _ = to.shutdown(Shutdown::Read);
    } else {
        // The peer closed cleanly: pass the close on once what it sent is delivered.
        let _ = writer.join();
        let _ = to.shutdown(Shutdown::Write);
        return;
    }
    let _ = writer.join();
}

/// Writes each chunk at its time.
fn deliver(chunks: mpsc::Receiver<(Instant, Vec<u8>)>, mut to: TcpStream) {
    for (at, chunk) in chunks {
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        if to.write_all(&chunk).is_err() {
            return;
        }
    }
}

/// Closes `stream` with a reset (SO_LINGER 0), not a FIN.
fn abort(stream: &TcpStream) {
    let linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ =
        nix::sys::socket::setsockopt(&stream.as_fd(), nix::sys::socket::sockopt::Linger, &linger);
    let _ = stream.shutdown(Shutdown::Read);
}

/// A process stopped with SIGSTOP until this is dropped (then SIGCONT): a node frozen by a
/// long GC pause, a VM migration or a debugger, its sockets open and silent.
pub struct Paused {
    pid: nix::unistd::Pid,
}

impl Paused {
    /// Stops `pid`.
    pub fn pause(pid: u32) -> std::io::Result<Paused> {
        let pid = nix::unistd::Pid::from_raw(pid as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP)
            .map_err(std::io::Error::from)?;
        Ok(Paused { pid })
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGCONT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that echoes what it reads, on a free port.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 4096];
                    while let Ok(read) = stream.read(&mut buffer) {
                        if read == 0 || stream.write_all(&buffer[..read]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        address
    }

    fn connect(proxy: &FaultProxy) -> TcpStream {
        let stream = TcpStream::connect(proxy.address()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream
    }

    /// Sends `text` and reads its echo: the time it took, or the error.
    fn round_trip(stream: &mut TcpStream, text: &[u8]) -> std::io::Result<Duration> {
        let started = Instant::now();
        stream.write_all(text)?;
        let mut got = vec![0u8; text.len()];
        stream.read_exact(&mut got)?;
        assert_eq!(got, text);
        Ok(started.elapsed())
    }

    #[test]
    fn without_faults_bytes_pass_both_ways() {
        let proxy = FaultProxy::start(echo_server(), 1).unwrap();
        let mut stream = connect(&proxy);
        for _ in 0..10 {
            round_trip(&mut stream, b"hello through the proxy").unwrap();
        }
        assert_eq!(proxy.accepted_connections(), 1);
    }

    #[test]
    fn latency_is_added_each_way_and_order_is_kept() {
        let proxy = FaultProxy::start(echo_server(), 2).unwrap();
        let mut stream = connect(&proxy);
        round_trip(&mut stream, b"warm").unwrap();
        proxy.set(Faults {
            latency: Duration::from_millis(60),
            jitter: Duration::from_millis(20),
            ..Faults::default()
        });
        let took = round_trip(&mut stream, b"slow").unwrap();
        // Both directions: at least twice the latency.
        assert!(took >= Duration::from_millis(120), "{took:?}");
        // Many small writes come back whole and in order despite the jitter.
        let text: Vec<u8> = (0..200u8).collect();
        for chunk in text.chunks(7) {
            stream.write_all(chunk).unwrap();
        }
        let mut got = vec![0u8; text.len()];
        stream.read_exact(&mut got).unwrap();
        assert_eq!(got, text);
        proxy.heal();
        let took = round_trip(&mut stream, b"fast").unwrap();
        assert!(took < Duration::from_millis(100), "{took:?}");
    }

    #[test]
    fn a_blackhole_holds_everything_until_healed_then_lets_it_through() {
        let proxy = FaultProxy::start(echo_server(), 3).unwrap();
        let mut stream = connect(&proxy);
        round_trip(&mut stream, b"before").unwrap();
        proxy.blackhole();
        stream.write_all(b"during").unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut got = [0u8; 6];
        let error = stream.read(&mut got).unwrap_err();
        assert!(matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ));
        // A new connection is accepted but silent too.
        let mut late = connect(&proxy);
        late.write_all(b"late").unwrap();
        proxy.heal();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"during");
        let mut got = [0u8; 4];
        late.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"late");
    }

    #[test]
    fn a_reset_aborts_open_connections_and_new_ones_work() {
        let proxy = FaultProxy::start(echo_server(), 4).unwrap();
        let mut stream = connect(&proxy);
        round_trip(&mut stream, b"one").unwrap();
        proxy.reset_connections();
        let mut buffer = [0u8; 8];
        match stream.read(&mut buffer) {
            Ok(0) => {}
            Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset),
            Ok(read) => panic!("read {read} bytes after a reset"),
        }
        let mut fresh = connect(&proxy);
        round_trip(&mut fresh, b"two").unwrap();
    }

    #[test]
    fn a_drop_rate_of_one_cuts_the_first_chunk() {
        let proxy = FaultProxy::start(echo_server(), 5).unwrap();
        proxy.set(Faults {
            drop_rate: 1.0,
            ..Faults::default()
        });
        let mut stream = connect(&proxy);
        assert!(round_trip(&mut stream, b"lost").is_err());
    }

    /// The state letter of `pid` in /proc once it satisfies `wanted` (bounded: 5 s).
    fn state_becomes(pid: u32, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            let state = stat
                .rsplit(')')
                .next()
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned();
            if wanted(&state) || Instant::now() > deadline {
                return state;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_paused_process_is_stopped_until_resumed() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let paused = Paused::pause(child.id()).unwrap();
        assert_eq!(state_becomes(child.id(), |s| s == "T"), "T");
        drop(paused);
        assert_ne!(state_becomes(child.id(), |s| s != "T"), "T");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
