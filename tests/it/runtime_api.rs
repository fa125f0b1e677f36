//! A Lambda Runtime API stub on 127.0.0.1 and a Lambda binary started against it with the
//! environment Lambda gives a `provided.al2023` function and nothing else. Shared by the
//! cold-start test (`cold_start.rs`) and the cold-start benchmark (`bench/cold_start.rs`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The Runtime API's poll for the next event.
pub const NEXT: &str = "/2018-06-01/runtime/invocation/next";
/// The request id of the event the stub hands out.
pub const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";
/// Only there so a broken binary fails instead of hanging.
const TIMEOUT: Duration = Duration::from_secs(20);

/// One request the stub received.
#[derive(Debug)]
pub struct Seen {
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Request body.
    pub body: Vec<u8>,
    /// When its request line arrived.
    pub at: Instant,
}

/// A Lambda Runtime API on 127.0.0.1: answers the first `next` poll with `event` (or holds it
/// open when there is none), holds later polls open as Lambda does between events, accepts
/// `/response` and `/error`, and reports every request on a channel.
pub struct RuntimeApi {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Receiver<Seen>,
    stop: Arc<AtomicBool>,
}

impl RuntimeApi {
    /// Starts the stub; `event` answers the first poll.
    pub fn start(event: Option<Value>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stub");
        let addr = listener.local_addr().expect("stub address");
        let (tx, seen) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let event = Arc::new(Mutex::new(event.map(|e| e.to_string())));
        let stopping = Arc::clone(&stop);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (tx, event) = (tx.clone(), Arc::clone(&event));
                thread::spawn(move || serve(stream, &tx, &event));
            }
        });
        Self { addr, seen, stop }
    }

    /// The next request, or a panic showing the process's logs after [`TIMEOUT`].
    pub fn next_request(&self, lambda: &Lambda) -> Seen {
        match self.seen.recv_timeout(TIMEOUT) {
            Ok(seen) => seen,
            Err(RecvTimeoutError::Timeout) => {
                panic!("no request within {TIMEOUT:?}; logs:\n{}", lambda.logs())
            }
            Err(RecvTimeoutError::Disconnected) => unreachable!("the stub outlives the test"),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees `stop`.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Serves one keep-alive connection until the peer closes it or a poll is held.
fn serve(stream: TcpStream, tx: &Sender<Seen>, event: &Mutex<Option<String>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut writer = stream;
    while let Some(seen) = read_request(&mut reader) {
        let (method, path) = (seen.method.clone(), seen.path.clone());
        let _ = tx.send(seen);
        if method == "GET" && path == NEXT {
            let Some(event) = event.lock().expect("event lock").take() else {
                // Hold the poll: the connection stays open, unanswered, until the process ends.
                let _ = reader.read(&mut [0; 64]);
                return;
            };
            let deadline_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_millis()
                + 60_000;
            let headers = format!(
                "Lambda-Runtime-Aws-Request-Id: {REQUEST_ID}\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline_ms}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:albwatch-test\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0\r\n"
            );
            reply(&mut writer, "200 OK", &headers, &event);
        } else if method == "POST" && path.starts_with("/2018-06-01/runtime/") {
            reply(&mut writer, "202 Accepted", "", r#"{"status":"OK"}"#);
        } else {
            reply(&mut writer, "404 Not Found", "", "{}");
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Seen> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let at = Instant::now();
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        path,
        body,
        at,
    })
}

fn reply(writer: &mut TcpStream, status: &str, headers: &str, body: &str) {
    let _ = write!(
        writer,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
}

/// A Lambda binary started with the environment Lambda gives a `provided.al2023` function and
/// nothing else; killed on drop.
pub struct Lambda {
    /// The process.
    pub child: Child,
    /// When it was started.
    pub started: Instant,
    logs: tempfile::NamedTempFile,
    _home: tempfile::TempDir,
}

impl Lambda {
    /// Starts `binary` against `api`.
    pub fn spawn(binary: &str, api: &RuntimeApi) -> Self {
        let logs = tempfile::NamedTempFile::new().expect("log file");
        // An empty home: no `~/.aws` of the machine running the tests.
        let home = tempfile::tempdir().expect("home");
        let stub = format!("http://{}", api.addr);
        let started = Instant::now();
        let child = Command::new(binary)
            .env_clear()
            .env("HOME", home.path())
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "albwatch-test")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/albwatch-test")
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2025/06/21/[$LATEST]0123456789abcdef",
            )
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env(
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            )
            .env("AWS_SESSION_TOKEN", "test-session-token")
            .env("ALBWATCH_STREAM_NAME", "test")
            // Tripwires: a metadata probe or a proxied HTTP(S) request reaches the stub.
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &stub)
            .env("HTTP_PROXY", &stub)
            .env("HTTPS_PROXY", &stub)
            .env("NO_PROXY", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logs.reopen().expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary}: {e}"));
        Self {
            child,
            started,
            logs,
            _home: home,
        }
    }

    /// What the process logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.logs.path()).unwrap_or_default()
    }
}

impl Drop for Lambda {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The S3 `s3:TestEvent` a bucket sends when a notification is set up: nothing to read.
pub fn s3_test_event() -> Value {
    json!({
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2025-06-21T22:25:03.512Z",
        "Bucket": "alb-logs-123456789012",
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"
    })
}

/// A Kinesis batch of one record that is not an albwatch record (a poison record).
pub fn poison_kinesis_event() -> Value {
    let sequence = "49568167373333333333333333333333333333333333333333333333";
    json!({"Records": [{
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "10.0.1.10:8080",
            "sequenceNumber": sequence,
            "data": "bm90IGEgcmVjb3Jk", // base64 of "not a record"
            "approximateArrivalTimestamp": 1_750_545_000.123
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": format!("shardId-000000000000:{sequence}"),
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/albwatch-alerter",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/test"
    }]})
}

/// The EventBridge scheduled event (the documented sample), as the 5-minute rule sends it.
#[allow(dead_code)] // `bench/cold_start.rs` shares this file and times the other events only.
pub fn scheduled_event() -> Value {
    json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2025-06-21T22:50:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/albwatch-check"],
        "detail": {}
    })
}
