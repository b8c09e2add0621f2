//! CORS: which browser origins may call the portal API (the configuration's
//! `portal.corsOrigins`). A portal's backend calls server to server and
//! needs none; a portal's frontend that calls goldpath from the browser
//! needs its origin listed. Credentials are bearer tokens, never cookies, so
//! `Access-Control-Allow-Credentials` is never sent.

use hyper::HeaderMap;
use hyper::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, HeaderValue, ORIGIN, VARY,
};

/// The request headers a page may send: the bearer token, JSON bodies, the
/// user a portal acts for, and where an event stream resumes.
const ALLOWED_HEADERS: &str =
    "authorization, content-type, impersonate-user, impersonate-group, impersonate-uid, last-event-id";
const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
/// How long, in seconds, a browser may reuse a preflight's answer.
const MAX_AGE: &str = "600";

/// The origins allowed to call from a browser.
#[derive(Clone, Debug, Default)]
pub struct Cors {
    origins: Vec<String>,
}

impl Cors {
    /// Allows exactly `origins` (scheme, host and port, as a browser sends
    /// them in `Origin`); a trailing `/` is ignored.
    pub fn new(origins: &[String]) -> Cors {
        Cors {
            origins: origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_string())
                .collect(),
        }
    }

    /// `origin`, when it is one of the allowed.
    fn allowed<'a>(&self, origin: Option<&'a HeaderValue>) -> Option<&'a HeaderValue> {
        let origin = origin?;
        let text = origin.to_str().ok()?;
        self.origins.iter().any(|o| o == text).then_some(origin)
    }

    /// Whether the request comes from a browser page of an origin not
    /// allowed; a request without `Origin` (a backend's) is not.
    pub fn refuses(&self, request: &HeaderMap) -> bool {
        request.contains_key(ORIGIN) && self.allowed(request.get(ORIGIN)).is_none()
    }

    /// Adds the headers that let the page of an allowed `origin` (the
    /// request's `Origin`) read the response; for other callers adds only
    /// `Vary: Origin`.
    pub fn decorate(&self, origin: Option<&HeaderValue>, response: &mut HeaderMap, preflight: bool) {
        response.append(VARY, HeaderValue::from_static("Origin"));
        let Some(origin) = self.allowed(origin) else {
            return;
        };
        response.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        if preflight {
            response.insert(
                ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOWED_METHODS),
            );
            response.insert(
                ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOWED_HEADERS),
            );
            response.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
        } else {
            response.insert(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("content-type"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(origin: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, origin.parse().unwrap());
        headers
    }

    #[test]
    fn only_a_configured_origin_is_allowed() {
        let cors = Cors::new(&["https://portal.example.com/".to_string()]);
        let mut response = HeaderMap::new();
        cors.decorate(
            from("https://portal.example.com").get(ORIGIN),
            &mut response,
            true,
        );
        assert_eq!(
            response[ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://portal.example.com"
        );
        assert!(
            response[ACCESS_CONTROL_ALLOW_HEADERS]
                .to_str()
                .unwrap()
                .contains("authorization")
        );
        assert!(
            response[ACCESS_CONTROL_ALLOW_HEADERS]
                .to_str()
                .unwrap()
                .contains("impersonate-user")
        );
        assert!(!cors.refuses(&from("https://portal.example.com")));

        for other in [
            "https://evil.example.com",
            "http://portal.example.com",
            "https://portal.example.com:8443",
        ] {
            let mut response = HeaderMap::new();
            cors.decorate(from(other).get(ORIGIN), &mut response, true);
            assert!(response.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{other}");
            assert_eq!(response[VARY], "Origin");
            assert!(cors.refuses(&from(other)), "{other}");
        }
        assert!(!cors.refuses(&HeaderMap::new()), "a backend sends no Origin");
    }

    #[test]
    fn no_origin_is_allowed_by_default() {
        let cors = Cors::default();
        let mut response = HeaderMap::new();
        cors.decorate(
            from("https://portal.example.com").get(ORIGIN),
            &mut response,
            false,
        );
        assert!(response.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert!(cors.refuses(&from("https://portal.example.com")));
    }
}
