//! The HTTP/1 server under the router: a client must send a request's headers within `header_timeout`
//! and a connection silent for `idle_timeout` is closed, so idle sockets cannot pile up; connections are
//! kept below the open-file limit (the least recently active one is closed to make room), so `/healthz`
//! and new visitors still get in; a failing `accept` is retried with a pause and logged once a minute;
//! on shutdown the requests in flight are finished.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Sleep;
use tower::Service;

/// Open files kept free of connections: the database and its journal on every pooled connection,
/// uploads being written, the log.
const RESERVED_FILES: u64 = 64;
/// The longest pause after a failed `accept`.
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);
/// How often a repeating `accept` failure is logged.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(60);

/// How long clients may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// To send a request's headers (and, between requests, to start the next one).
    pub header: Duration,
    /// To send or take any byte while a request is under way.
    pub idle: Duration,
}

/// One open connection, as the cap sees it.
struct Open {
    /// When a byte last went either way, ms since the server started.
    last_active: Arc<AtomicU64>,
    /// Asks the connection to close (after its request in flight, if any).
    close: Arc<Notify>,
    /// Already asked: a busy connection (a live page's event stream) may take long to go.
    asked: bool,
}

/// The open connections, so the least recently active one can be closed when the cap is reached.
#[derive(Default)]
struct Registry {
    open: Mutex<HashMap<u64, Open>>,
    /// Told whenever a connection has closed.
    closed: Notify,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Open>> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Asks the least recently active connection not yet asked to close; false when there is none.
    fn close_quietest(&self) -> bool {
        let mut open = self.lock();
        let quietest = open.values_mut().filter(|c| !c.asked).min_by_key(|c| c.last_active.load(Ordering::Relaxed));
        quietest
            .map(|c| {
                c.asked = true;
                c.close.notify_one();
            })
            .is_some()
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes the requests in flight.
pub async fn run(listener: TcpListener, router: Router, timeouts: Timeouts, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
    let mut make = router.into_make_service_with_connect_info::<SocketAddr>();
    let cap = connection_cap();
    let registry = Arc::new(Registry::default());
    let started = Instant::now();
    let (stopping_tx, stopping) = watch::channel(false);
    // Every connection holds a clone; when all are dropped the last connection has finished.
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut failures = AcceptFailures::default();
    let mut next_id = 0u64;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of open files (or another passing failure): make room and wait rather than spin.
                registry.close_quietest();
                tokio::time::sleep(failures.record(&error)).await;
                continue;
            }
        };
        failures.pause = Duration::ZERO;
        let _ = stream.set_nodelay(true);
        // At the cap, the quietest connection goes before this one is served (an idle one closes at once).
        while registry.lock().len() as u64 >= cap && registry.close_quietest() {
            let _ = tokio::time::timeout(Duration::from_millis(100), registry.closed.notified()).await;
        }
        let service = make.call(peer).await.unwrap_or_else(|never| match never {});
        let id = next_id;
        next_id += 1;
        let last_active = Arc::new(AtomicU64::new(elapsed_ms(started)));
        let close = Arc::new(Notify::new());
        registry.lock().insert(id, Open { last_active: last_active.clone(), close: close.clone(), asked: false });
        let io = Watched { inner: stream, idle: timeouts.idle, deadline: Box::pin(tokio::time::sleep(timeouts.idle)), last_active, started };
        let (registry, mut stopping, alive) = (registry.clone(), stopping.clone(), alive.clone());
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(timeouts.header);
            let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
            let mut conn = std::pin::pin!(conn);
            let closing = async {
                tokio::select! {
                    () = close.notified() => {}
                    _ = stopping.wait_for(|stopping| *stopping) => {}
                }
            };
            tokio::select! {
                _ = conn.as_mut() => {}
                () = closing => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            registry.lock().remove(&id);
            registry.closed.notify_waiters();
            drop(alive);
        });
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    drop(alive);
    let _ = all_done.recv().await;
    Ok(())
}

/// How many connections may be open: the open-file limit less [`RESERVED_FILES`].
fn connection_cap() -> u64 {
    crate::process::open_file_limit().map_or(1024, |limit| limit.saturating_sub(RESERVED_FILES).max(16))
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// `accept` failures: a pause that grows while they repeat, and a log line at most once a minute.
#[derive(Default)]
struct AcceptFailures {
    pause: Duration,
    logged: Option<Instant>,
    unlogged: u64,
}

impl AcceptFailures {
    /// Notes a failure; returns how long to wait before the next `accept`.
    fn record(&mut self, error: &io::Error) -> Duration {
        self.unlogged += 1;
        if self.logged.is_none_or(|at| at.elapsed() >= ACCEPT_LOG_EVERY) {
            tracing::error!(%error, failures = self.unlogged, "cannot accept connections; closing the least active one and retrying");
            self.logged = Some(Instant::now());
            self.unlogged = 0;
        }
        self.pause = (self.pause * 2).clamp(Duration::from_millis(10), MAX_ACCEPT_PAUSE);
        self.pause
    }
}

/// A connection's socket that fails with `TimedOut` once no byte has gone either way for `idle` while
/// the server waits on the client, and stamps its activity for the cap.
struct Watched {
    inner: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    last_active: Arc<AtomicU64>,
    started: Instant,
}

impl Watched {
    fn active(&mut self) {
        self.deadline.as_mut().reset(tokio::time::Instant::now() + self.idle);
        self.last_active.store(elapsed_ms(self.started), Ordering::Relaxed);
    }

    /// On a pending read or write: the error to end the connection with, once idle too long.
    fn timed_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.active();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => self.timed_out(cx),
            ready => ready,
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                self.active();
                Poll::Ready(Ok(n))
            }
            Poll::Pending => self.timed_out(cx).map(|r| r.map(|()| 0)),
            ready => ready,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                self.active();
                Poll::Ready(Ok(n))
            }
            Poll::Pending => self.timed_out(cx).map(|r| r.map(|()| 0)),
            ready => ready,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
