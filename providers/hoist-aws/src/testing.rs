//! Test support: finding the moto_server the test harness started, giving each test an
//! account of its own, and a loopback fault proxy to put between the SDK and moto.
//!
//! Everything here connects to loopback addresses only (the network rule): the fault proxy
//! refuses a non-loopback upstream, and the moto helpers refuse a non-loopback URL.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// The variable the test harness (`scripts/test`, `scripts/moto up`) exports moto's URL in.
pub const MOTO_URL_VAR: &str = "HOIST_TEST_MOTO_URL";

/// moto's URL for the test `test`, or `None` (after printing why) when it is not set and we
/// are not in CI. Under `CI=true` a missing URL fails the test.
///
/// # Panics
/// Under `CI=true` when `HOIST_TEST_MOTO_URL` is not set, or when it is not a loopback URL.
pub fn moto_url(test: &str) -> Option<String> {
    match std::env::var(MOTO_URL_VAR) {
        Ok(u) if !u.trim().is_empty() => {
            if let Err(e) = loopback_addr(&u) {
                panic!("{MOTO_URL_VAR}: {e}");
            }
            Some(u.trim().trim_end_matches('/').to_string())
        }
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "{test}: {MOTO_URL_VAR} is not set under CI=true: scripts/test starts moto_server \
             (scripts/moto up DIR) and exports it"
        ),
        _ => {
            eprintln!(
                "skipping {test}: {MOTO_URL_VAR} is not set (start moto with `scripts/moto up \
                 /tmp/moto` and export the URL it prints)"
            );
            None
        }
    }
}

/// A 12-digit moto account id of its own for `test` in this process (moto keeps accounts
/// apart: send it as the `x-moto-account-id` header, see
/// [`AwsCloudBuilder::header`](crate::AwsCloudBuilder::header)). It differs between runs, so
/// what an aborted run left in a long-lived moto never meets the next run.
pub fn account_for(test: &str) -> String {
    static RUN: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    let run = RUN.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
            ^ u128::from(std::process::id())
    });
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in test.bytes().chain(run.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:012}", 100_000_000_000 + h % 800_000_000_000)
}

/// The loopback socket address of an `http://127.x.y.z:PORT` URL.
///
/// ```
/// use hoist_aws::testing::loopback_addr;
/// assert_eq!(loopback_addr("http://127.0.0.1:5000").unwrap().port(), 5000);
/// assert!(loopback_addr("http://10.0.0.1:5000").is_err());
/// ```
pub fn loopback_addr(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .trim()
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} is not an http:// URL"))?;
    let hostport = rest.split('/').next().unwrap_or_default();
    let hostport = if hostport.starts_with("localhost:") {
        hostport.replacen("localhost", "127.0.0.1", 1)
    } else {
        hostport.to_string()
    };
    let addr: SocketAddr = hostport
        .parse()
        .map_err(|_| format!("{url:?} is not http://IP:PORT"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("{url:?} is not a loopback address"));
    }
    Ok(addr)
}

/// One HTTP/1.1 POST to moto on loopback; returns the body of a `200` answer.
async fn moto_post(url: &str, path: &str, headers: &str, body: &str) -> Result<String, String> {
    let addr = loopback_addr(url)?;
    let mut s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf))
        .await
        .map_err(|_| format!("POST {path} timed out"))?
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or_default().to_string();
    if status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.0 200") {
        Ok(body.to_string())
    } else {
        Err(format!("POST {path} answered {status:?}: {body}"))
    }
}

/// Resets moto (`POST /moto-api/reset`): every account's state is dropped.
pub async fn moto_reset(url: &str) -> Result<(), String> {
    moto_post(url, "/moto-api/reset", "", "").await.map(|_| ())
}

/// Temporary credentials for moto's `account` (12 digits, e.g. from [`account_for`]).
#[derive(Clone, Debug)]
pub struct MotoCredentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
    /// `AWS_SESSION_TOKEN`.
    pub session_token: String,
}

/// Credentials that act in moto's `account`, from an STS `AssumeRole` into a role of that
/// account (moto maps the temporary key it hands out to the account).
///
/// This gives a test an account of its own through nothing but the standard AWS variables
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), so that processes the
/// test starts (`hoist down`, an example) share it without any test-only setting. They are
/// valid for an hour.
pub async fn moto_account_credentials(url: &str, account: &str) -> Result<MotoCredentials, String> {
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{account:?} is not a 12-digit account id"));
    }
    // moto routes by the credential scope's service; it does not check the signature.
    let headers = "Content-Type: application/x-www-form-urlencoded\r\n\
        Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sts/aws4_request, \
        SignedHeaders=host, Signature=00\r\n";
    let body = format!(
        "Action=AssumeRole&Version=2011-06-15&RoleSessionName=hoist-test&DurationSeconds=3600\
         &RoleArn=arn%3Aaws%3Aiam%3A%3A{account}%3Arole%2Fhoist-test"
    );
    let xml = moto_post(url, "/", headers, &body).await?;
    let field = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = xml
            .find(&open)
            .ok_or_else(|| format!("AssumeRole answer has no {name}: {xml}"))?
            + open.len();
        let len = xml[start..]
            .find(&close)
            .ok_or_else(|| format!("AssumeRole answer has no {name}: {xml}"))?;
        Ok::<_, String>(xml[start..start + len].to_string())
    };
    Ok(MotoCredentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: field("SecretAccessKey")?,
        session_token: field("SessionToken")?,
    })
}

// ----------------------------------------------------------------------------------------------
// fault proxy

/// What the [`FaultProxy`] does to requests. Shared and changeable while it runs.
#[derive(Debug, Default)]
pub struct Faults {
    latency_us: AtomicU64,
    fail_next: AtomicU32,
    throttle_next: AtomicU32,
    /// Throttle when more than this many requests arrive in one second (0: never).
    throttle_above_per_sec: AtomicU32,
    window: Mutex<(Option<tokio::time::Instant>, u32)>,
}

impl Faults {
    /// Delay every request by `d` before forwarding it.
    pub fn set_latency(&self, d: Duration) {
        self.latency_us.store(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    /// Answer the next `n` requests with `500 InternalError` (not forwarded).
    pub fn fail_next(&self, n: u32) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// Answer the next `n` requests with `503 RequestLimitExceeded` (not forwarded).
    pub fn throttle_next(&self, n: u32) {
        self.throttle_next.store(n, Ordering::SeqCst);
    }

    /// Throttle every request beyond `n` in one one-second window (0 turns it off).
    pub fn throttle_above(&self, n: u32) {
        self.throttle_above_per_sec.store(n, Ordering::SeqCst);
    }

    fn take(counter: &AtomicU32) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    fn over_rate(&self) -> bool {
        let limit = self.throttle_above_per_sec.load(Ordering::SeqCst);
        if limit == 0 {
            return false;
        }
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let now = tokio::time::Instant::now();
        match w.0 {
            Some(start) if now - start < Duration::from_secs(1) => {
                w.1 += 1;
                w.1 > limit
            }
            _ => {
                *w = (Some(now), 1);
                false
            }
        }
    }
}

/// What the [`FaultProxy`] saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Requests received.
    pub requests: u64,
    /// Requests per EC2 action (`Action=` of the form body).
    pub actions: BTreeMap<String, u64>,
    /// Answered with an injected 5xx.
    pub failed: u64,
    /// Answered with an injected throttling error.
    pub throttled: u64,
    /// Most requests in flight at once.
    pub max_in_flight: usize,
}

#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    failed: AtomicU64,
    throttled: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    actions: Mutex<BTreeMap<String, u64>>,
}

/// A small HTTP/1.1 proxy on 127.0.0.1 that forwards to a loopback upstream (moto), adding
/// latency and answering chosen requests with 5xx or throttling errors itself. Bounded: at
/// most 1024 connections at once, requests of at most 16 MiB, 60 s per upstream exchange.
/// Stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    faults: Arc<Faults>,
    stats: Arc<Stats>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const MAX_BODY: usize = 16 << 20;

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (an `http://127.x.y.z:PORT` URL).
    pub async fn start(upstream: &str) -> Result<FaultProxy, String> {
        let up = loopback_addr(upstream)?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let faults = Arc::new(Faults::default());
        let stats = Arc::new(Stats::default());
        let (f, s) = (faults.clone(), stats.clone());
        let conns = Arc::new(Semaphore::new(1024));
        let task = tokio::spawn(async move {
            loop {
                let Ok(permit) = conns.clone().acquire_owned().await else {
                    return;
                };
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let (f, s) = (f.clone(), s.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    let _ = serve(sock, up, &f, &s).await;
                });
            }
        });
        Ok(FaultProxy {
            addr,
            faults,
            stats,
            task,
        })
    }

    /// The proxy's URL, to give the SDK as its endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The fault settings.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// What it saw so far.
    pub fn stats(&self) -> ProxyStats {
        ProxyStats {
            requests: self.stats.requests.load(Ordering::SeqCst),
            actions: self
                .stats
                .actions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            failed: self.stats.failed.load(Ordering::SeqCst),
            throttled: self.stats.throttled.load(Ordering::SeqCst),
            max_in_flight: self.stats.max_in_flight.load(Ordering::SeqCst),
        }
    }

    /// Forgets the statistics.
    pub fn reset_stats(&self) {
        self.stats.requests.store(0, Ordering::SeqCst);
        self.stats.failed.store(0, Ordering::SeqCst);
        self.stats.throttled.store(0, Ordering::SeqCst);
        self.stats.max_in_flight.store(0, Ordering::SeqCst);
        self.stats
            .actions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Reads one request (head and Content-Length body) from `sock`; `None` at a clean EOF.
async fn read_request(
    sock: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<(String, Vec<u8>)>> {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = header(&head, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if len > MAX_BODY {
                return Err(std::io::Error::other("request too large"));
            }
            while buf.len() < end + 4 + len {
                let mut chunk = [0u8; 16384];
                let n = sock.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return Ok(Some((head, body)));
        }
        if buf.len() > 64 * 1024 {
            return Err(std::io::Error::other("request head too large"));
        }
        let mut chunk = [0u8; 16384];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn error_response(status: &str, code: &str, message: &str) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>{message}</Message></Error></Errors><RequestID>hoist-fault-proxy</RequestID></Response>"
    );
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Decodes a chunked body.
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = find(b, b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..eol])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        let end = (start + size).min(b.len());
        out.extend_from_slice(&b[start..end]);
        b = &b[(end + 2).min(b.len())..];
    }
    out
}

/// Forwards one request to the upstream and returns the response re-framed with a
/// Content-Length (so the client's connection can be kept alive).
async fn forward(up: SocketAddr, head: &str, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(up).await?;
    s.set_nodelay(true)?;
    let mut req = String::new();
    for (i, l) in head.lines().enumerate() {
        if i > 0 && l.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        req.push_str(l);
        req.push_str("\r\n");
    }
    req.push_str("Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    s.write_all(body).await?;
    let mut resp = Vec::new();
    let mut limited = (&mut s).take(MAX_BODY as u64);
    limited.read_to_end(&mut resp).await?;
    let end = find(&resp, b"\r\n\r\n").ok_or_else(|| std::io::Error::other("bad response"))?;
    let rhead = String::from_utf8_lossy(&resp[..end]).to_string();
    let raw = &resp[end + 4..];
    let body = if header(&rhead, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        dechunk(raw)
    } else {
        match header(&rhead, "content-length").and_then(|v| v.parse::<usize>().ok()) {
            Some(n) => raw[..n.min(raw.len())].to_vec(),
            None => raw.to_vec(),
        }
    };
    let mut out = String::new();
    for (i, l) in rhead.lines().enumerate() {
        let lower = l.to_ascii_lowercase();
        if i > 0
            && (lower.starts_with("connection:")
                || lower.starts_with("content-length:")
                || lower.starts_with("transfer-encoding:")
                || lower.starts_with("keep-alive:"))
        {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut v = out.into_bytes();
    v.extend_from_slice(&body);
    Ok(v)
}

fn action_of(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action=").map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

async fn serve(mut sock: TcpStream, up: SocketAddr, f: &Faults, s: &Stats) -> std::io::Result<()> {
    sock.set_nodelay(true)?;
    let mut buf = Vec::new();
    while let Some((head, body)) = read_request(&mut sock, &mut buf).await? {
        s.requests.fetch_add(1, Ordering::SeqCst);
        *s.actions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(action_of(&body))
            .or_insert(0) += 1;
        let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        s.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let latency = Duration::from_micros(f.latency_us.load(Ordering::SeqCst));
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let resp = if Faults::take(&f.fail_next) {
            s.failed.fetch_add(1, Ordering::SeqCst);
            Ok(error_response(
                "500 Internal Server Error",
                "InternalError",
                "injected failure",
            ))
        } else if Faults::take(&f.throttle_next) || f.over_rate() {
            s.throttled.fetch_add(1, Ordering::SeqCst);
            Ok(error_response(
                "503 Service Unavailable",
                "RequestLimitExceeded",
                "Request limit exceeded.",
            ))
        } else {
            tokio::time::timeout(Duration::from_secs(60), forward(up, &head, &body))
                .await
                .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
        };
        s.in_flight.fetch_sub(1, Ordering::SeqCst);
        let resp = resp.unwrap_or_else(|e| {
            error_response("502 Bad Gateway", "InternalError", &format!("proxy: {e}"))
        });
        sock.write_all(&resp).await?;
    }
    Ok(())
}
