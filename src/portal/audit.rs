//! The audit trail of the portal API: one JSON line on stderr for every call
//! that may write (any method but `GET`, `HEAD` and `OPTIONS`), refused or
//! not: who (the verified user, and the portal that acted for them), what
//! (method and path, never the query or the body), and the outcome (the
//! status code). Never a token, a header or a body: the line is built from
//! these fields only.

use std::io::Write;

use hyper::{Method, StatusCode};
use serde_json::json;

use super::identity::Caller;

/// Whether calls with `method` are audited.
pub fn audited(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The audit line of a call, without its newline.
pub fn line(caller: Option<&Caller>, method: &Method, path: &str, status: StatusCode) -> String {
    let outcome = if status.is_success() {
        "done"
    } else if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        "refused"
    } else {
        "failed"
    };
    json!({
        "audit": "goldpath.dev/portal",
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "user": caller.map(|c| c.user.username.as_str()),
        "groups": caller.map(|c| &c.user.groups),
        "portal": caller.and_then(|c| c.portal.as_deref()),
        "method": method.as_str(),
        "path": path,
        "status": status.as_u16(),
        "outcome": outcome,
    })
    .to_string()
}

/// Writes the audit line of a call to stderr.
pub fn record(caller: Option<&Caller>, method: &Method, path: &str, status: StatusCode) {
    let mut line = line(caller, method, path, status);
    line.push('\n');
    // One write of the whole line, so lines of concurrent calls do not mix.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Requester;

    #[test]
    fn a_line_says_who_what_and_how_it_went() {
        let caller = Caller {
            user: Requester {
                username: "jane".into(),
                uid: None,
                groups: vec!["team-a".into()],
            },
            portal: Some("system:serviceaccount:portal:backstage".into()),
        };
        let line = line(
            Some(&caller),
            &Method::POST,
            "/api/scaffolder/v2/tasks",
            StatusCode::CREATED,
        );
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["user"], "jane");
        assert_eq!(parsed["groups"], json!(["team-a"]));
        assert_eq!(parsed["portal"], "system:serviceaccount:portal:backstage");
        assert_eq!(parsed["method"], "POST");
        assert_eq!(parsed["path"], "/api/scaffolder/v2/tasks");
        assert_eq!(parsed["status"], 201);
        assert_eq!(parsed["outcome"], "done");
        assert!(!line.contains('\n'));

        let refused: serde_json::Value =
            serde_json::from_str(&super::line(None, &Method::POST, "/x", StatusCode::UNAUTHORIZED)).unwrap();
        assert_eq!(refused["outcome"], "refused");
        assert!(refused["user"].is_null());
        assert!(audited(&Method::DELETE) && audited(&Method::POST) && !audited(&Method::GET));
    }
}
