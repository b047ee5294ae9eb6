//! A TCP proxy that a test can cut: the server under test reaches its database or Redis through
//! it, and the test takes the dependency away and gives it back without touching the real one.
//!
//! [`FaultProxy::start`] listens on `127.0.0.1:0` and forwards every connection to the target.
//! [`FaultProxy::cut`] closes every open connection at once and then accepts new ones only to
//! drop them (the peer sees its connection closed at once, before any byte);
//! [`FaultProxy::cut_refusing`] closes them too and stops listening (the peer sees "connection
//! refused", as when the dependency's process is down). [`FaultProxy::restore`] forwards again,
//! on the same address. It runs on a runtime of its own (one thread), so that a test blocking
//! its own thread (waiting for a child process's log) does not stall it; it stops when dropped.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    /// Accepts and drops.
    Drop,
    /// Not listening.
    Refuse,
}

#[derive(Debug, Clone, Copy)]
struct State {
    mode: Mode,
    /// Bumped by every change, so that a caller can wait until the accept loop applied it.
    generation: u64,
}

#[derive(Default)]
struct Counters {
    open: AtomicUsize,
    forwarded: AtomicU64,
    dropped: AtomicU64,
}

/// A cuttable TCP proxy to one target address.
pub struct FaultProxy {
    address: SocketAddr,
    target: String,
    state: watch::Sender<State>,
    applied: watch::Receiver<u64>,
    counters: Arc<Counters>,
    runtime: Option<Runtime>,
}

/// How long [`FaultProxy::cut`] waits for the open connections' tasks to close them.
const CLOSE_WITHIN: Duration = Duration::from_secs(2);

impl FaultProxy {
    /// A proxy on `127.0.0.1:0` forwarding to `target` (`host:port`), forwarding from the start.
    ///
    /// # Panics
    /// When its runtime cannot be built or no port can be bound.
    pub fn start(target: impl Into<String>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fault-proxy")
            .enable_all()
            .build()
            .expect("building the fault proxy's runtime");
        let listener = {
            let _context = runtime.enter();
            bind(SocketAddr::from(([127, 0, 0, 1], 0)))
                .expect("binding the fault proxy on 127.0.0.1:0")
        };
        let address = listener.local_addr().expect("a bound listener's address");
        let target = target.into();
        let (state, state_rx) = watch::channel(State {
            mode: Mode::Forward,
            generation: 0,
        });
        let (applied_tx, applied) = watch::channel(0);
        let counters = Arc::new(Counters::default());
        runtime.spawn(accept_loop(
            listener,
            address,
            target.clone(),
            state_rx,
            applied_tx,
            counters.clone(),
        ));
        Self {
            address,
            target,
            state,
            applied,
            counters,
            runtime: Some(runtime),
        }
    }

    /// The proxy's own address (`127.0.0.1:<port>`).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The address it forwards to.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// `url` (`scheme://[user[:password]@]host[:port][/path][?query]`) with its host and port
    /// replaced by the proxy's: the same database or server, reached through the proxy.
    pub fn url_through(&self, url: &str) -> String {
        with_authority(url, &self.address.to_string())
    }

    /// Closes every open connection and drops every new one until [`restore`](Self::restore).
    /// Returns once the open connections are closed (or after 2 s).
    pub async fn cut(&self) {
        self.switch(Mode::Drop).await;
    }

    /// Closes every open connection and stops listening until [`restore`](Self::restore): new
    /// connections are refused. Returns once the open connections are closed (or after 2 s).
    pub async fn cut_refusing(&self) {
        self.switch(Mode::Refuse).await;
    }

    /// Forwards new connections again, on the same address.
    pub async fn restore(&self) {
        self.switch(Mode::Forward).await;
    }

    /// Connections forwarded since the start.
    pub fn forwarded(&self) -> u64 {
        self.counters.forwarded.load(Ordering::SeqCst)
    }

    /// Connections accepted and dropped while cut.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::SeqCst)
    }

    /// Connections being forwarded now.
    pub fn open(&self) -> usize {
        self.counters.open.load(Ordering::SeqCst)
    }

    async fn switch(&self, mode: Mode) {
        let mut generation = 0;
        self.state.send_modify(|state| {
            state.mode = mode;
            state.generation += 1;
            generation = state.generation;
        });
        let mut applied = self.applied.clone();
        let _ = tokio::time::timeout(
            CLOSE_WITHIN,
            applied.wait_for(|applied| *applied >= generation),
        )
        .await;
        if mode != Mode::Forward {
            let deadline = tokio::time::Instant::now() + CLOSE_WITHIN;
            while self.open() > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Without waiting: a test's runtime cannot block. Its tasks (the accept loop, the
        // connections) are dropped with it, closing every socket.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn bind(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    // Re-binding the same port after `cut_refusing` while its old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(1024)
}

async fn accept_loop(
    listener: TcpListener,
    address: SocketAddr,
    target: String,
    mut state: watch::Receiver<State>,
    applied: watch::Sender<u64>,
    counters: Arc<Counters>,
) {
    let mut listener = Some(listener);
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let current = *state.borrow_and_update();
        match (current.mode, &listener) {
            (Mode::Refuse, Some(_)) => listener = None,
            (Mode::Forward | Mode::Drop, None) => match bind(address) {
                Ok(bound) => listener = Some(bound),
                Err(error) => {
                    // The port is in use by someone else for now: try again shortly.
                    eprintln!("fault proxy: re-binding {address}: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ => {}
        }
        let _ = applied.send(current.generation);
        let Some(bound) = &listener else {
            if state.changed().await.is_err() {
                return;
            }
            continue;
        };
        tokio::select! {
            changed = state.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            accepted = bound.accept() => {
                let Ok((client, _)) = accepted else { continue };
                if current.mode == Mode::Drop {
                    counters.dropped.fetch_add(1, Ordering::SeqCst);
                    drop(client);
                    continue;
                }
                connections.spawn(forward(client, target.clone(), state.clone(), counters.clone()));
            }
        }
    }
}

/// Decrements the open connections when a connection's task ends, however it ends.
struct OpenGuard(Arc<Counters>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn forward(
    mut client: TcpStream,
    target: String,
    mut state: watch::Receiver<State>,
    counters: Arc<Counters>,
) {
    counters.open.fetch_add(1, Ordering::SeqCst);
    let _open = OpenGuard(counters.clone());
    let cut = async move {
        let _ = state.wait_for(|state| state.mode != Mode::Forward).await;
    };
    tokio::select! {
        () = cut => {}
        () = async {
            let Ok(mut upstream) = TcpStream::connect(&target).await else { return };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            counters.forwarded.fetch_add(1, Ordering::SeqCst);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        } => {}
    }
    // Both sockets are dropped here: closed on both sides.
}

/// `url` with its `host[:port]` replaced by `authority`, user information, path and query kept.
pub fn with_authority(url: &str, authority: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let server = &rest[..end];
    let host_start = server.rfind('@').map_or(0, |i| i + 1);
    format!(
        "{}{}{authority}{}",
        &url[..start],
        &server[..host_start],
        &rest[end..]
    )
}

/// The `host:port` of `url`, with `default_port` when it names none.
pub fn authority_of(url: &str, default_port: u16) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let server = &rest[..end];
    let host = &server[server.rfind('@').map_or(0, |i| i + 1)..];
    let has_port = match host.rfind(']') {
        // [v6]:port
        Some(bracket) => host[bracket..].contains(':'),
        None => host.contains(':'),
    };
    if has_port {
        host.to_owned()
    } else {
        format!("{host}:{default_port}")
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    #[test]
    fn urls_are_pointed_at_the_proxy() {
        assert_eq!(
            with_authority("postgres://postgres@127.0.0.1:5432/db?x=1", "127.0.0.1:9"),
            "postgres://postgres@127.0.0.1:9/db?x=1"
        );
        assert_eq!(
            with_authority("redis://127.0.0.1:6379/", "127.0.0.1:9"),
            "redis://127.0.0.1:9/"
        );
        assert_eq!(
            with_authority("redis://u:p@localhost", "127.0.0.1:9"),
            "redis://u:p@127.0.0.1:9"
        );
        assert_eq!(
            authority_of("postgres://postgres@127.0.0.1:5432/db", 5432),
            "127.0.0.1:5432"
        );
        assert_eq!(authority_of("redis://localhost/", 6379), "localhost:6379");
        assert_eq!(authority_of("redis://[::1]:7000", 6379), "[::1]:7000");
        assert_eq!(authority_of("redis://[::1]", 6379), "[::1]:6379");
    }

    /// An echo server; its address.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = socket.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        address
    }

    async fn round_trip(stream: &mut TcpStream) -> io::Result<()> {
        stream.write_all(b"ping").await?;
        let mut reply = [0; 4];
        stream.read_exact(&mut reply).await?;
        assert_eq!(&reply, b"ping");
        Ok(())
    }

    #[tokio::test]
    async fn cut_closes_open_connections_and_drops_new_ones_until_restored() {
        let proxy = FaultProxy::start(echo().await.to_string());
        let mut open = TcpStream::connect(proxy.address()).await.unwrap();
        round_trip(&mut open).await.unwrap();

        proxy.cut().await;
        assert!(round_trip(&mut open).await.is_err(), "closed by the cut");
        let mut new = TcpStream::connect(proxy.address()).await.unwrap();
        assert!(round_trip(&mut new).await.is_err(), "dropped while cut");

        proxy.restore().await;
        let mut again = TcpStream::connect(proxy.address()).await.unwrap();
        round_trip(&mut again).await.unwrap();
        assert_eq!(proxy.forwarded(), 2);
        assert!(proxy.dropped() >= 1);
    }

    #[tokio::test]
    async fn cut_refusing_stops_listening_and_restore_listens_on_the_same_port() {
        let proxy = FaultProxy::start(echo().await.to_string());
        let mut open = TcpStream::connect(proxy.address()).await.unwrap();
        round_trip(&mut open).await.unwrap();

        proxy.cut_refusing().await;
        assert!(round_trip(&mut open).await.is_err(), "closed by the cut");
        let refused = TcpStream::connect(proxy.address()).await.unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);

        proxy.restore().await;
        let mut again = TcpStream::connect(proxy.address()).await.unwrap();
        round_trip(&mut again).await.unwrap();
    }
}
