//! What the forge contract tiers share: a loopback HTTP server that reads
//! each request, hands it to the forge's own check and answer, records the
//! calls and what falls outside the contract, and answers injected faults;
//! and a run of `goldpath scaffold` against it. What each forge documents,
//! and how it behaves, stays in its own tier.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// The secret every run's token holds; no output may show it.
pub const TOKEN: &str = "contract-token";

/// The template's steps before the one under test: a skeleton of one file.
const HEAD: &str = "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata:\n  name: t\nspec:\n  type: service\n  steps:\n    - id: fetch\n      action: fetch:template\n      input: {url: ./skeleton}\n";

/// A request as the server read it.
pub struct Request {
    /// As sent: `GET`.
    pub method: String,
    /// The path, without the query, as sent (still percent-encoded).
    pub path: String,
    /// The query's parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The `Authorization` header.
    pub authorization: String,
    /// The body as JSON (`null` when it is not JSON), if there is one.
    pub body: Option<Value>,
}

/// An answer: its status, headers, and JSON body (`null` for none).
pub type Answer = (u16, Vec<(String, String)>, Value);

/// An injected answer: the next request for `method` `path` gets it.
struct Fault {
    method: &'static str,
    path: String,
    answer: Answer,
}

/// What a contract server holds: what every one records, and the forge's
/// own state.
pub struct Exchange<S> {
    /// `METHOD path` of each request, in order.
    pub calls: Vec<String>,
    /// Requests or answers outside the contract.
    pub violations: Vec<String>,
    faults: Vec<Fault>,
    /// What the forge holds: its repositories, pull requests, and so on.
    pub forge: S,
}

impl<S> Exchange<S> {
    /// The answer injected for `method` `path`, if any: it answers once.
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<Answer> {
        let index = self
            .faults
            .iter()
            .position(|f| f.method == method && f.path == path)?;
        Some(self.faults.remove(index).answer)
    }
}

/// A forge's answer to one request: it records the call, checks the
/// request and answers it; `remotes` is where its bare repositories live.
pub type Handler<S> = fn(&Request, &mut Exchange<S>, &Path) -> Answer;

/// A contract server on a loopback port.
pub struct Server<S> {
    pub state: Arc<Mutex<Exchange<S>>>,
    /// Its base URL: `http://127.0.0.1:port`.
    pub url: String,
    /// Where the bare repositories live.
    pub remotes: PathBuf,
    /// What requests are held to, for a failure's message: "GitHub's description".
    contract: &'static str,
}

impl<S: Send + 'static> Server<S> {
    /// Serves `handler` until the test ends, with the state `forge` makes
    /// from the server's URL.
    pub fn listen(
        remotes: &Path,
        contract: &'static str,
        forge: impl FnOnce(&str) -> S,
        handler: Handler<S>,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(Exchange {
            calls: Vec::new(),
            violations: Vec::new(),
            faults: Vec::new(),
            forge: forge(&url),
        }));
        let shared = state.clone();
        let root = remotes.to_path_buf();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve(stream, &shared, &root, handler);
            }
        });
        Server {
            state,
            url,
            remotes: remotes.to_path_buf(),
            contract,
        }
    }

    /// The next request for `method` `path` is answered so, unchecked.
    pub fn fault(
        &self,
        method: &'static str,
        path: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: Value,
    ) {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.state.lock().unwrap().faults.push(Fault {
            method,
            path: path.to_string(),
            answer: (status, headers, body),
        });
    }

    /// The calls since the last time, as `METHOD path`, once every one
    /// was within the contract.
    pub fn take_calls(&self) -> Vec<String> {
        let mut state = self.state.lock().unwrap();
        assert!(
            state.violations.is_empty(),
            "outside {}: {:#?}",
            self.contract,
            state.violations
        );
        std::mem::take(&mut state.calls)
    }
}

fn serve<S>(mut stream: TcpStream, state: &Mutex<Exchange<S>>, remotes: &Path, handler: Handler<S>) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let (status, headers, body) = handler(&request, &mut state.lock().unwrap(), remotes);
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let reason = match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        _ => "Error",
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&body);
    let _ = stream.write_all(response.as_bytes());
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    let method = words.next()?.to_string();
    let target = words.next()?.to_string();
    let (mut length, mut authorization) = (0usize, String::new());
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "authorization" => authorization = value.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.to_string(), decode(v))
        })
        .collect();
    Some(Request {
        method,
        path: path.to_string(),
        query,
        authorization,
        body: (!body.is_empty()).then(|| serde_json::from_slice(&body).unwrap_or(Value::Null)),
    })
}

/// `text` with its percent-escapes decoded.
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(byte) = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| u8::from_str_radix(&text[i + 1..i + 3], 16).ok())
            .flatten()
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Runs `goldpath scaffold` on a template of `step`, with `config` as its
/// configuration file and `secrets` as its `--secrets` file; the exit
/// status and what it printed, which must not show [`TOKEN`].
pub fn scaffold(step: &str, config: &str, secrets: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("skeleton")).unwrap();
    std::fs::write(dir.path().join("skeleton/README.md"), "# app\n").unwrap();
    std::fs::write(dir.path().join("template.yaml"), format!("{HEAD}{step}")).unwrap();
    std::fs::write(dir.path().join("config.yaml"), config).unwrap();
    std::fs::write(dir.path().join("secrets.yaml"), secrets).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_goldpath"))
        .arg("scaffold")
        .arg(dir.path().join("template.yaml"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .arg("--config")
        .arg(dir.path().join("config.yaml"))
        .arg("--secrets")
        .arg(dir.path().join("secrets.yaml"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!text.contains(TOKEN), "the token was shown: {text}");
    (output.status.success(), text)
}

/// Someone else's repository at `path`: bare, with one commit on `main`,
/// which is returned.
pub fn someone_elses_repository(path: &Path) -> (git2::Repository, git2::Oid) {
    let theirs = git2::Repository::init_bare(path).unwrap();
    let signature = git2::Signature::now("someone", "someone@example.com").unwrap();
    let tree = theirs.treebuilder(None).unwrap().write().unwrap();
    let commit = theirs
        .commit(
            Some("refs/heads/main"),
            &signature,
            &signature,
            "theirs",
            &theirs.find_tree(tree).unwrap(),
            &[],
        )
        .unwrap();
    (theirs, commit)
}

/// Ten minutes from now, in seconds since the Unix epoch: when an injected
/// rate limit resets.
pub fn ten_minutes_from_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600
}

/// What goldpath's forge client of `kind` reads, at `api_url` with
/// [`TOKEN`], of pull requests 1, 2 and 3 of `acme/app`, and the error it
/// gives for 9, which must not show the token.
pub fn pull_request_states(
    kind: goldpath::forge::ForgeKind,
    api_url: &str,
) -> (Vec<goldpath::forge::PullRequestState>, String) {
    use goldpath::forge::{Forge, HttpTransport, RepoId, client::Client};

    let transport = HttpTransport::new(api_url, TOKEN)
        .unwrap()
        .with_scheme(kind.auth_scheme());
    let client = Client::new(kind, transport).unwrap();
    let id = RepoId {
        owner: "acme".into(),
        name: "app".into(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let read = |number| runtime.block_on(client.pull_request_state(&id, number));
    let states = (1..=3).map(|number| read(number).unwrap()).collect();
    let missing = read(9).unwrap_err().to_string();
    assert!(!missing.contains(TOKEN), "{missing}");
    (states, missing)
}
