//! Fixtures shared by the git tests: an identity, sample trees, bare
//! remotes and a way to inspect them.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use git2::{Oid, Repository, Signature};
use tempfile::TempDir;

use super::tree::build_tree;
use super::{Credentials, GitError, GitIdentity, PublishRequest, Published, publish};
use crate::engine::files::{FileEntry, FileTree};

pub(super) const PASSWORD: &str = "s3cret-Token-42";

pub(super) fn identity() -> GitIdentity {
    GitIdentity {
        author_name: "goldpath".to_owned(),
        author_email: "goldpath@example.com".to_owned(),
    }
}

pub(super) fn sample_files() -> FileTree {
    let mut files = FileTree::new();
    files.insert("README.md".to_owned(), FileEntry::text("# hello\n"));
    files.insert(
        "bin/run.sh".to_owned(),
        FileEntry::File {
            contents: b"#!/bin/sh\necho run\n".to_vec(),
            executable: true,
        },
    );
    files.insert(
        "docs/readme-link".to_owned(),
        FileEntry::Symlink {
            target: "../README.md".to_owned(),
        },
    );
    files.insert(
        "src/deep/nested/lib.rs".to_owned(),
        FileEntry::text("pub fn f() {}\n"),
    );
    files.insert(
        "catalog-info.yaml".to_owned(),
        FileEntry::text("kind: Component\n"),
    );
    files
}

/// A bare repository to act as the remote, and its file:// URL.
pub(super) fn bare_remote(dir: &TempDir, name: &str) -> (PathBuf, String) {
    let path = dir.path().join(name);
    Repository::init_bare(&path).expect("init remote");
    let url = url::Url::from_file_path(&path).expect("file url").to_string();
    (path, url)
}

pub(super) fn publish_files(url: &str, files: &FileTree) -> Result<Published, GitError> {
    let identity = identity();
    publish(&PublishRequest::new(url, files, "Initial commit", &identity))
}

pub(super) fn tip(remote: &Path, branch: &str) -> Option<Oid> {
    let repo = Repository::open_bare(remote).expect("open remote");
    repo.refname_to_id(&format!("refs/heads/{branch}")).ok()
}

pub(super) fn commit_count(remote: &Path, branch: &str) -> usize {
    let repo = Repository::open_bare(remote).expect("open remote");
    let mut walk = repo.revwalk().expect("revwalk");
    walk.push_ref(&format!("refs/heads/{branch}")).expect("push ref");
    walk.count()
}

pub(super) fn git(args: &[&str], dir: &Path) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Commits `files` straight into a bare repository, for remotes that
/// resolve and read_tree read from.
pub(super) fn seed(repo: &Repository, files: &FileTree, parent: Option<Oid>, branch: &str) -> Oid {
    let tree = build_tree(repo, files).expect("tree");
    let tree = repo.find_tree(tree).expect("find tree");
    let signature = Signature::now("seed", "seed@example.com").expect("signature");
    let parent = parent.map(|p| repo.find_commit(p).expect("parent"));
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(
        Some(&format!("refs/heads/{branch}")),
        &signature,
        &signature,
        "seed\n",
        &tree,
        &parents,
    )
    .expect("commit")
}

/// A bare remote in `dir` holding [`template_files`] as one commit on
/// `main`: its path, its file:// URL and that commit.
pub(super) fn template_remote(dir: &TempDir) -> (PathBuf, String, String) {
    let (remote, url) = bare_remote(dir, "templates.git");
    let repo = Repository::open_bare(&remote).expect("open");
    let commit = seed(&repo, &template_files(), None, "main").to_string();
    (remote, url, commit)
}

pub(super) fn template_files() -> FileTree {
    let mut files = FileTree::new();
    files.insert("template.yaml".to_owned(), FileEntry::text("kind: Template\n"));
    files.insert(
        "skeleton/README.md".to_owned(),
        FileEntry::text("# ${{ values.name }}\n"),
    );
    files.insert(
        "skeleton/scripts/build.sh".to_owned(),
        FileEntry::File {
            contents: b"#!/bin/sh\n".to_vec(),
            executable: true,
        },
    );
    files.insert(
        "skeleton/link".to_owned(),
        FileEntry::Symlink {
            target: "README.md".to_owned(),
        },
    );
    files
}

pub(super) fn skeleton_of(files: &FileTree) -> FileTree {
    files
        .iter()
        .filter_map(|(path, entry)| {
            path.strip_prefix("skeleton/")
                .map(|p| (p.to_owned(), entry.clone()))
        })
        .collect()
}

// ---- a git server over HTTP, through git's own http-backend ----

pub(super) enum Behaviour {
    /// Serve repositories under a root with `git http-backend`,
    /// requiring Basic credentials if given.
    Backend {
        root: PathBuf,
        credentials: Option<(String, String)>,
    },
    /// Answer every request with this status.
    Status(u16),
}

pub(super) struct HttpServer {
    pub(super) base: String,
    /// The Authorization header of every request, in order.
    seen: Arc<Mutex<Vec<Option<String>>>>,
}

impl HttpServer {
    pub(super) fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve(stream, &behaviour, &log);
            }
        });
        HttpServer {
            base: format!("http://127.0.0.1:{port}"),
            seen,
        }
    }

    pub(super) fn authorizations(&self) -> Vec<Option<String>> {
        self.seen.lock().expect("log").clone()
    }
}

pub(super) fn basic(user: &str, password: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}").into_bytes();
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

pub(super) fn serve(stream: TcpStream, behaviour: &Behaviour, seen: &Mutex<Vec<Option<String>>>) {
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
        }
        let body = read_body(&mut reader, &headers);
        seen.lock()
            .expect("log")
            .push(headers.get("authorization").cloned());
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("GET").to_owned();
        let target = parts.next().unwrap_or("/").to_owned();
        let (status, extra, content) = match behaviour {
            Behaviour::Status(status) => (format!("{status} Status"), String::new(), Vec::new()),
            Behaviour::Backend { root, credentials } => {
                let authorized = credentials.as_ref().is_none_or(|(user, password)| {
                    headers.get("authorization") == Some(&basic(user, password))
                });
                if authorized {
                    http_backend(root, &method, &target, &headers, &body)
                } else {
                    (
                        "401 Unauthorized".to_owned(),
                        "WWW-Authenticate: Basic realm=\"git\"\r\n".to_owned(),
                        Vec::new(),
                    )
                }
            }
        };
        let head = format!(
            "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\n\r\n",
            content.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&content).is_err() {
            return;
        }
    }
}

pub(super) fn read_body(reader: &mut BufReader<TcpStream>, headers: &HashMap<String, String>) -> Vec<u8> {
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).expect("chunk size");
            let size = size.trim().split(';').next().unwrap_or("0");
            let size = usize::from_str_radix(size, 16).expect("hex size");
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).expect("chunk");
            if size == 0 {
                return body;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    if let Some(length) = headers.get("content-length") {
        body.resize(length.parse().expect("length"), 0);
        reader.read_exact(&mut body).expect("body");
    }
    body
}

/// Runs `git http-backend` as a CGI program for one request.
pub(super) fn http_backend(
    root: &Path,
    method: &str,
    target: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> (String, String, Vec<u8>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut child = Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.receivepack")
        .env("GIT_CONFIG_VALUE_0", "true")
        .env("REQUEST_METHOD", method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env(
            "CONTENT_TYPE",
            headers.get("content-type").map_or("", String::as_str),
        )
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", "tester")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("git http-backend");
    let mut stdin = child.stdin.take().expect("stdin");
    let body = body.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let output = child.wait_with_output().expect("http-backend output");
    writer.join().expect("stdin writer");
    let raw = output.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))
        .expect("CGI headers");
    let head = String::from_utf8_lossy(&raw[..split.0]).into_owned();
    let content = raw[split.0 + split.1..].to_vec();
    let mut status = "200 OK".to_owned();
    let mut extra = String::new();
    for line in head.lines() {
        if let Some(value) = line.strip_prefix("Status:") {
            status = value.trim().to_owned();
        } else if !line.trim().is_empty() {
            extra.push_str(line.trim_end());
            extra.push_str("\r\n");
        }
    }
    (status, extra, content)
}

pub(super) fn http_remote(root: &TempDir, name: &str) -> PathBuf {
    let path = root.path().join(name);
    Repository::init_bare(&path).expect("init");
    path
}

pub(super) fn alice() -> Credentials {
    Credentials::new("alice", PASSWORD)
}

pub(super) fn protected_server(root: &TempDir) -> HttpServer {
    HttpServer::start(Behaviour::Backend {
        root: root.path().to_path_buf(),
        credentials: Some(("alice".to_owned(), PASSWORD.to_owned())),
    })
}
