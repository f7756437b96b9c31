//! A hoster on loopback that misbehaves at the connection level, where mockito cannot: an
//! answer cut short, a reset in the middle of the body, a body dripped a byte at a time, bytes
//! that are not what the headers say. One connection at a time; every request is recorded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the hoster answers one request.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// A whole HTTP answer with a correct `Content-Length`.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// The head promises `claimed` bytes, `body` is sent, then the connection is closed.
    Short { claimed: usize, body: Vec<u8> },
    /// A 200 head and part of the body, then a TCP reset (SO_LINGER 0).
    Reset { body: Vec<u8> },
    /// A 200 answer whose body comes a byte at a time, `pause` apart.
    Drip { body: Vec<u8>, pause: Duration },
    /// A 200 answer of `size` bytes of JSON, streamed.
    Huge { size: usize },
    /// These bytes as they are, instead of an HTTP answer, then the connection is closed.
    Raw(Vec<u8>),
}

impl Behaviour {
    /// A JSON answer with `status`.
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Behaviour {
        Behaviour::with_type(status, "application/json", body)
    }

    /// An answer with `status`, of `content_type`.
    pub fn with_type(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Behaviour {
        Behaviour::Full {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }
}

/// One route: a method and a path (without the query), and the answer it gets.
pub type Route = (&'static str, &'static str, Behaviour);

/// The running hoster. Dropping it stops it.
pub struct RawHoster {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RawHoster {
    /// Starts a hoster answering `routes`; anything else gets a 404.
    pub fn start(routes: Vec<Route>) -> RawHoster {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopping) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let Some(line) = read_request(&mut stream) else {
                    continue;
                };
                seen.lock().unwrap().push(line.clone());
                let behaviour = routes
                    .iter()
                    .find(|(method, path, _)| line == format!("{method} {path}"))
                    .map(|(_, _, b)| b.clone())
                    .unwrap_or_else(|| Behaviour::json(404, r#"{"error":{"message":"no route"}}"#));
                // The client may hang up first (a size cap, a deadline): nothing to do then.
                let _ = answer(&mut stream, &behaviour);
            }
        });
        RawHoster {
            address,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// How many requests `METHOD /path` came.
    pub fn count(&self, request: &str) -> usize {
        let requests = self.requests.lock().unwrap();
        requests.iter().filter(|r| *r == request).count()
    }
}

impl Drop for RawHoster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request; gives `METHOD /path` (the query cut off).
fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).ok()?;
    let mut words = head.split_whitespace();
    let method = words.next()?;
    let target = words.next()?;
    Some(format!("{method} {}", target.split('?').next()?))
}

fn head(status: u16, headers: &[(String, String)], length: usize) -> Vec<u8> {
    let mut text =
        format!("HTTP/1.1 {status} Whatever\r\nContent-Length: {length}\r\nConnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.into_bytes()
}

fn json_head(length: usize) -> Vec<u8> {
    head(
        200,
        &[("Content-Type".into(), "application/json".into())],
        length,
    )
}

fn answer(stream: &mut TcpStream, behaviour: &Behaviour) -> std::io::Result<()> {
    match behaviour {
        Behaviour::Full {
            status,
            headers,
            body,
        } => {
            stream.write_all(&head(*status, headers, body.len()))?;
            stream.write_all(body)
        }
        Behaviour::Short { claimed, body } => {
            stream.write_all(&json_head(*claimed))?;
            stream.write_all(body)
        }
        Behaviour::Reset { body } => {
            stream.write_all(&json_head(body.len() * 2))?;
            stream.write_all(body)?;
            stream.flush()?;
            reset_on_close(stream);
            Ok(())
        }
        Behaviour::Drip { body, pause } => {
            stream.write_all(&json_head(body.len()))?;
            for byte in body {
                std::thread::sleep(*pause);
                stream.write_all(&[*byte])?;
                stream.flush()?;
            }
            Ok(())
        }
        Behaviour::Huge { size } => {
            stream.write_all(&json_head(*size))?;
            // `{"pad":"xxx...x"}`: valid JSON of `size` bytes.
            let (open, close) = (&b"{\"pad\":\""[..], &b"\"}"[..]);
            stream.write_all(open)?;
            let chunk = vec![b'x'; 64 * 1024];
            let mut left = size - open.len() - close.len();
            while left > 0 {
                let n = left.min(chunk.len());
                stream.write_all(&chunk[..n])?;
                left -= n;
            }
            stream.write_all(close)
        }
        Behaviour::Raw(bytes) => stream.write_all(bytes),
    }
}

/// Makes the close of `stream` send a TCP reset instead of a normal end: SO_LINGER with a
/// zero timeout (std has no stable setter for it).
fn reset_on_close(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a correctly sized option value.
    let done = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(done, 0, "SO_LINGER could not be set");
}
