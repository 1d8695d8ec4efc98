//! The real binary under load an attacker or a busy morning can make: bursts of logins, idle sockets up
//! to the open-file limit, large uploads — its memory (VmRSS) and its answers measured from outside.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PASSWORD: &str = "s3cret-pass";

/// A `fieldservice serve` on a temporary data directory with one global admin.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts the binary with `env` added, and `open_files` (soft, hard) as its open-file limit if given.
    fn start(env: &[(&str, &str)], open_files: Option<(u64, u64)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let command = |args: &[&str]| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_fieldservice"));
            cmd.args(args)
                .current_dir(dir.path())
                .env("FIELDSERVICE_CONFIG", dir.path().join("fieldservice.toml"))
                .env("FIELDSERVICE_DURABILITY", "normal")
                .env("FIELDSERVICE_LOG_LEVEL", "warn");
            cmd
        };
        let created = command(&["admin", "create", "--login", "admin", "--password", PASSWORD]).output().unwrap();
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut cmd = command(&["serve"]);
        let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        cmd.env("FIELDSERVICE_LISTEN", format!("127.0.0.1:{port}")).envs(env.iter().copied()).stdout(Stdio::null()).stderr(log);
        if let Some((soft, hard)) = open_files {
            // SAFETY: only setrlimit, which is async-signal-safe, runs between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let limit = libc::rlimit { rlim_cur: soft, rlim_max: hard };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
                });
            }
        }
        let mut server = Self { child: cmd.spawn().unwrap(), port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        while server.healthz(Duration::from_secs(2)) != Some(200) {
            assert!(server.child.try_wait().unwrap().is_none(), "the server exited early");
            assert!(Instant::now() < deadline, "the server did not become healthy");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// What the server has logged.
    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("stderr.log")).unwrap()
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The status of `GET /healthz` on a new connection, or `None` when it does not come within `wait`.
    fn healthz(&self, wait: Duration) -> Option<u16> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(wait)).unwrap();
        write!(stream, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).ok()?;
        std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
    }

    /// The server's resident memory, bytes.
    fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches(" kB").trim();
        kb.parse::<u64>().unwrap() * 1024
    }

    /// Samples the resident memory every 10 ms until the returned guard is dropped; its peak so far.
    fn watch_rss(&self) -> RssWatch {
        let (peak, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let path = format!("/proc/{}/status", self.child.id());
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Ok(status) = std::fs::read_to_string(&path)
                    && let Some(kb) = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))
                {
                    let bytes = kb.trim().trim_end_matches(" kB").trim().parse::<u64>().unwrap_or(0) * 1024;
                    p.fetch_max(bytes, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        RssWatch { peak, stop }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct RssWatch {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl RssWatch {
    fn peak_mb(&self) -> u64 {
        self.peak.load(Ordering::Relaxed) / (1 << 20)
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_logins_at_once_are_answered_in_seconds_within_100_mb() {
    let server = Server::start(&[], None);
    let http = reqwest::Client::new();
    let watch = server.watch_rss();
    let started = Instant::now();
    let logins: Vec<_> = (0..50)
        .map(|_| {
            let request = http.post(format!("{}/api/v1/auth/staff/login", server.base())).json(&serde_json::json!({"login": "admin", "password": PASSWORD}));
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    for login in logins {
        assert_eq!(login.await.unwrap(), reqwest::StatusCode::OK);
    }
    let took = started.elapsed();
    eprintln!("50 logins: {took:?}, peak RSS {} MB", watch.peak_mb());
    // Each argon2id check takes 19 MiB: fifty at once used to take ~1 GB and keep it.
    assert!(watch.peak_mb() < 100, "peak RSS {} MB", watch.peak_mb());
    assert!(took < Duration::from_secs(10), "50 logins took {took:?}");
    drop(watch);
    assert!(server.rss() < 60 << 20, "RSS after the burst: {} MB", server.rss() >> 20);
}

#[test]
fn the_soft_open_file_limit_is_raised_to_the_hard_one() {
    let server = Server::start(&[], Some((256, 4096)));
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.child.id())).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap().to_string();
    let numbers: Vec<&str> = line.split_whitespace().filter(|w| w.parse::<u64>().is_ok()).collect();
    assert_eq!(numbers, ["4096", "4096"], "{line}");
}

#[test]
fn idle_sockets_up_to_the_open_file_limit_do_not_keep_healthz_out() {
    // The limit cannot be raised (soft = hard = 256) and the clients never send a byte.
    let server = Server::start(&[("FIELDSERVICE_HEADER_TIMEOUT_SECONDS", "600"), ("FIELDSERVICE_IDLE_TIMEOUT_SECONDS", "600")], Some((256, 256)));
    let idle: Vec<TcpStream> = (0..300).map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..3 {
        assert_eq!(server.healthz(Duration::from_secs(5)), Some(200), "healthz with 300 idle sockets open");
    }
    drop(idle);
    let log = server.log();
    assert!(log.matches("Too many open files").count() <= 1, "logged once a minute at most:\n{log}");
}

#[test]
fn a_silent_or_idle_connection_is_closed_after_the_timeout() {
    let server = Server::start(&[("FIELDSERVICE_HEADER_TIMEOUT_SECONDS", "1"), ("FIELDSERVICE_IDLE_TIMEOUT_SECONDS", "2")], None);
    let closed_within = |mut stream: TcpStream, wait: Duration| {
        stream.set_read_timeout(Some(wait)).unwrap();
        let started = Instant::now();
        let mut rest = Vec::new();
        // EOF (or a reset) ends the read; a timeout means the server kept the connection.
        match stream.read_to_end(&mut rest) {
            Ok(_) => Some(started.elapsed()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Some(started.elapsed()),
            Err(_) => None,
        }
    };
    // Connected, nothing sent.
    let silent = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    assert!(closed_within(silent, Duration::from_secs(5)).is_some(), "a connection that never sends a request is closed");
    // Half a request's headers, then nothing (slowloris).
    let mut half = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(half, "GET /healthz HTTP/1.1\r\nHost: local").unwrap();
    assert!(closed_within(half, Duration::from_secs(5)).is_some(), "headers never finished");
    // A request answered, then the connection kept alive with nothing more.
    let mut kept = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(kept, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    kept.read_exact(&mut head).unwrap();
    assert_eq!(&head[9..12], b"200");
    assert!(closed_within(kept, Duration::from_secs(5)).is_some(), "an idle keep-alive connection is closed");
    // A request body that stops coming.
    let mut stalled = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(stalled, "POST /api/v1/auth/staff/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"lo").unwrap();
    assert!(closed_within(stalled, Duration::from_secs(6)).is_some(), "a stalled body is not waited for forever");
    assert_eq!(server.healthz(Duration::from_secs(2)), Some(200));
}

/// The status a server answers to a request whose body (`length` bytes announced) stops after 64 KiB:
/// an answer means the request was refused before its body was read.
fn status_before_the_body(server: &Server, head: &str, length: usize) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(stream, "{head}Host: localhost\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {length}\r\n\r\n").unwrap();
    stream.write_all(b"--XyZ\r\nContent-Disposition: form-data; name=\"passport\"; filename=\"p.jpg\"\r\n\r\n").unwrap();
    stream.write_all(&vec![0u8; 64 * 1024]).unwrap();
    let mut status = [0u8; 12];
    stream.read_exact(&mut status).ok()?;
    std::str::from_utf8(&status[9..12]).ok()?.parse().ok()
}

#[test]
fn an_upload_is_refused_before_its_body_when_the_caller_may_not_send_it() {
    let server = Server::start(&[], None);
    let length = 23 << 20;
    // A made-up invite: the questionnaire's body is not read at all.
    let invite = status_before_the_body(&server, "POST /m/invite/made-up-token HTTP/1.1\r\n", length);
    assert!(invite.is_some_and(|s| s >= 400), "made-up invite: {invite:?}");
    // Signed out: the staff order form, the master's act upload, a master's document.
    assert_eq!(status_before_the_body(&server, "POST /orders/new HTTP/1.1\r\n", length), Some(303));
    assert_eq!(status_before_the_body(&server, "POST /m/orders/1/close HTTP/1.1\r\n", length), Some(303));
    assert_eq!(status_before_the_body(&server, "POST /api/v1/me/orders/1/close HTTP/1.1\r\n", length), Some(401));
    assert_eq!(status_before_the_body(&server, "POST /api/v1/me/documents HTTP/1.1\r\n", length), Some(401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_order_forms_with_a_hundred_megabytes_of_files_each_stay_under_100_mb() {
    let server = Server::start(&[], None);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let signed_in = http.post(format!("{}/login", server.base())).form(&[("login", "admin"), ("password", PASSWORD)]).send().await.unwrap();
    assert_eq!(signed_in.status(), reqwest::StatusCode::SEE_OTHER);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = http.get(format!("{}/orders/new", server.base())).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).and_then(|rest| rest.split('"').next()).expect("the form's CSRF field").to_string();
    // One 10 MiB PDF in the test's memory, sent ten times by each of eight forms.
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.resize(10 << 20, b' ');
    let pdf = axum::body::Bytes::from(pdf);
    let watch = server.watch_rss();
    let forms: Vec<_> = (0..8)
        .map(|_| {
            let mut form = reqwest::multipart::Form::new().text("csrf", csrf.clone()).text("client_name", "Иван");
            for n in 0..10 {
                let part = reqwest::multipart::Part::stream(pdf.clone()).file_name(format!("scan{n}.pdf")).mime_str("application/pdf").unwrap();
                form = form.part("attachments", part);
            }
            let request = http.post(format!("{}/orders/new", server.base())).header("cookie", &cookie).multipart(form);
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    for form in forms {
        let status = form.await.unwrap();
        assert!(status.is_client_error() || status.is_redirection(), "{status}");
    }
    eprintln!("8 forms × 100 MiB: peak RSS {} MB", watch.peak_mb());
    // Each form used to be held whole in memory: 859 MB at the peak, 808 MB kept.
    assert!(watch.peak_mb() < 100, "peak RSS {} MB", watch.peak_mb());
    drop(watch);
    let left: Vec<_> = std::fs::read_dir(server._dir.path().join("data").join("files")).map(|dir| dir.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "the refused forms' files are gone: {left:?}");
}
