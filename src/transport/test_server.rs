//! A loopback HTTP/1.1 server with canned answers, for the sender's tests.
//!
//! Each request is recorded (and sent on a channel) *before* its answer is written, so
//! when `send` returns, every request it caused is already on the channel.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// One request as the server saw it.
#[derive(Debug)]
pub(crate) struct Recorded {
    /// Which accepted connection (0, 1, …) carried it.
    pub(crate) connection: usize,
    /// `POST /path HTTP/1.1`.
    pub(crate) request_line: String,
    /// Header names lower-cased, in arrival order.
    pub(crate) headers: Vec<(String, String)>,
    /// The body (`Content-Length` framing only).
    pub(crate) body: Vec<u8>,
}

impl Recorded {
    /// The values of a header (name in lower case).
    pub(crate) fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// What to do with the next request.
pub(crate) enum Reply {
    /// Write this status line and these headers, then the body (Content-Length added).
    Respond {
        status: &'static str,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Never answer; keep the connection open.
    Hang,
}

impl Reply {
    /// A reply with no extra headers.
    pub(crate) fn status(status: &'static str, body: &str) -> Reply {
        Reply::Respond {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
        }
    }
}

/// The running server; stops accepting when dropped.
pub(crate) struct CannedServer {
    pub(crate) addr: SocketAddr,
    pub(crate) requests: mpsc::UnboundedReceiver<Recorded>,
    accept: JoinHandle<()>,
}

impl Drop for CannedServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl CannedServer {
    /// Listens on 127.0.0.1 (free port) and answers requests with `replies` in order;
    /// closes connections once they run out.
    pub(crate) async fn start(replies: Vec<Reply>) -> CannedServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
        let (tx, requests) = mpsc::unbounded_channel();
        let accept = tokio::spawn(async move {
            let mut connection = 0;
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, connection, replies.clone(), tx.clone()));
                connection += 1;
            }
        });
        CannedServer {
            addr,
            requests,
            accept,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request recorded so far.
    pub(crate) fn take_requests(&mut self) -> Vec<Recorded> {
        let mut out = Vec::new();
        while let Ok(request) = self.requests.try_recv() {
            out.push(request);
        }
        out
    }
}

async fn serve(
    mut stream: TcpStream,
    connection: usize,
    replies: Arc<Mutex<VecDeque<Reply>>>,
    tx: mpsc::UnboundedSender<Recorded>,
) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buffer, connection).await else {
            return;
        };
        let _ = tx.send(request);
        let reply = replies.lock().expect("replies lock").pop_front();
        match reply {
            None => return,
            Some(Reply::Hang) => std::future::pending::<()>().await,
            Some(Reply::Respond {
                status,
                headers,
                body,
            }) => {
                let mut answer = format!("HTTP/1.1 {status}\r\n");
                for (name, value) in headers {
                    answer.push_str(&format!("{name}: {value}\r\n"));
                }
                answer.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
                if stream.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn read_request(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    connection: usize,
) -> Option<Recorded> {
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buffer.len() > 64 * 1024 || !read_more(stream, buffer).await {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let body_start = head_end + 4;
    while buffer.len() < body_start + length {
        if !read_more(stream, buffer).await {
            return None;
        }
    }
    let body = buffer[body_start..body_start + length].to_vec();
    buffer.drain(..body_start + length);
    Some(Recorded {
        connection,
        request_line,
        headers,
        body,
    })
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            true
        }
    }
}
