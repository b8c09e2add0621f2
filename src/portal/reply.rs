//! What the portal API answers: JSON bodies, a stream of server-sent
//! events, and errors in the shape Backstage's backends answer them
//! (`ErrorResponseBody`: the error's name and message, the request's method
//! and URL, the status code), so a portal's client shows them as it shows
//! Backstage's own.

use std::convert::Infallible;
use std::pin::Pin;

use futures::{Stream, StreamExt};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};

/// The body of a response: whole, or sent as it is made.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A body sent piece by piece as it is made; the connection's end drops it.
pub struct Streamed(Pin<Box<dyn Stream<Item = Bytes> + Send>>);

impl std::fmt::Debug for Streamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Streamed")
    }
}

/// An answer before the CORS headers are added.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: StatusCode,
    /// The JSON body; `None` for no body (`204`) or a streamed one.
    pub body: Option<Value>,
    /// Whether to ask for a bearer token (`WWW-Authenticate`), on a `401`.
    pub challenge: bool,
    /// Server-sent events (`text/event-stream`), sent as they come.
    pub stream: Option<Streamed>,
}

impl Reply {
    /// `200` with `body`.
    pub fn ok(body: Value) -> Reply {
        Reply::with_status(StatusCode::OK, body)
    }

    /// `status` with `body`.
    pub fn with_status(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            challenge: false,
            stream: None,
        }
    }

    /// `200` with server-sent events: each item of `events` is one or more
    /// whole events (see [`sse_event`]), sent as soon as it comes; the
    /// response ends with the stream.
    pub fn event_stream(events: impl Stream<Item = Bytes> + Send + 'static) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: None,
            challenge: false,
            stream: Some(Streamed(Box::pin(events))),
        }
    }

    /// `204 No Content`.
    pub fn no_content() -> Reply {
        Reply::empty(StatusCode::NO_CONTENT)
    }

    /// `status` without a body.
    pub fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            body: None,
            challenge: false,
            stream: None,
        }
    }

    /// An error: `status` with Backstage's error name for it and `message`.
    /// The request's method and URL are filled in by [`Reply::into_response`].
    pub fn error(status: StatusCode, message: impl Into<String>) -> Reply {
        Reply {
            status,
            body: Some(json!({
                "error": {"name": error_name(status), "message": message.into()},
                "response": {"statusCode": status.as_u16()},
            })),
            challenge: status == StatusCode::UNAUTHORIZED,
            stream: None,
        }
    }

    /// `400`: the request's input is wrong; `message` names the parameter.
    pub fn bad_request(message: impl Into<String>) -> Reply {
        Reply::error(StatusCode::BAD_REQUEST, message)
    }

    /// `404`.
    pub fn not_found(message: impl Into<String>) -> Reply {
        Reply::error(StatusCode::NOT_FOUND, message)
    }

    /// The HTTP response to a `method` call of `url` (path and query).
    pub fn into_response(self, method: &Method, url: &str) -> Response<Body> {
        if let Some(Streamed(events)) = self.stream {
            let frames = events.map(|bytes| Ok::<_, Infallible>(Frame::data(bytes)));
            let mut response = Response::new(BodyExt::boxed_unsync(StreamBody::new(frames)));
            *response.status_mut() = self.status;
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            return response;
        }
        let mut body = self.body;
        if let Some(error) = body.as_mut().filter(|b| b.get("error").is_some())
            && let Some(object) = error.as_object_mut()
        {
            object.insert("request".into(), json!({"method": method.as_str(), "url": url}));
        }
        let bytes = body
            .map(|b| Bytes::from(serde_json::to_vec(&b).unwrap_or_default()))
            .unwrap_or_default();
        let has_body = !bytes.is_empty();
        let mut response = Response::new(Full::new(bytes).boxed_unsync());
        *response.status_mut() = self.status;
        if has_body {
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
        }
        if self.challenge {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The answer when the cluster's API server refused a call made while
/// `doing`: what its refusal means for the caller (the object was invalid
/// or denied by an admission policy, goldpath may not, it is not there, it
/// conflicts), and `503` only when the API server did not answer, was
/// overloaded or failed itself, which a retry may mend.
pub fn cluster_refused(doing: &str, error: &kube::Error) -> Reply {
    let kube::Error::Api(status) = error else {
        return Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{doing}: the cluster's API server did not answer ({error}); try again"),
        );
    };
    let answer = match status.code {
        400 | 422 => StatusCode::BAD_REQUEST,
        403 => StatusCode::FORBIDDEN,
        404 => StatusCode::NOT_FOUND,
        409 => StatusCode::CONFLICT,
        413 => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let reason = if status.reason.is_empty() {
        status.code.to_string()
    } else {
        format!("{} {}", status.code, status.reason)
    };
    let advice = if answer == StatusCode::SERVICE_UNAVAILABLE {
        "; try again"
    } else {
        ""
    };
    Reply::error(
        answer,
        format!(
            "{doing}: the cluster's API server refused it ({reason}): {}{advice}",
            status.message
        ),
    )
}

/// One server-sent event: its `id`, its `type` as the event name and
/// `data` as one line of JSON, as Backstage's event stream writes them.
pub fn sse_event(id: u64, type_: &str, data: &Value) -> String {
    format!("id: {id}\nevent: {type_}\ndata: {data}\n\n")
}

/// The name Backstage's `errors` package gives an error of `status`.
fn error_name(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "InputError",
        StatusCode::UNAUTHORIZED => "AuthenticationError",
        StatusCode::FORBIDDEN => "NotAllowedError",
        StatusCode::NOT_FOUND => "NotFoundError",
        StatusCode::CONFLICT => "ConflictError",
        StatusCode::PAYLOAD_TOO_LARGE => "PayloadTooLargeError",
        StatusCode::METHOD_NOT_ALLOWED => "NotAllowedError",
        StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailableError",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn an_error_has_backstages_shape_and_a_401_asks_for_a_bearer_token() {
        let response = Reply::error(StatusCode::UNAUTHORIZED, "no bearer token")
            .into_response(&Method::GET, "/api/catalog/entities?limit=1");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({
                "error": {"name": "AuthenticationError", "message": "no bearer token"},
                "request": {"method": "GET", "url": "/api/catalog/entities?limit=1"},
                "response": {"statusCode": 401},
            })
        );
    }

    #[tokio::test]
    async fn an_event_stream_is_sent_as_it_comes_and_ends_with_its_stream() {
        let (send, receive) = futures::channel::mpsc::unbounded::<Bytes>();
        let response = Reply::event_stream(receive).into_response(&Method::GET, "/x");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
        assert_eq!(response.headers()[CACHE_CONTROL], "no-cache");
        let mut body = response.into_body();
        let first = sse_event(3, "log", &json!({"id": 3}));
        assert_eq!(first, "id: 3\nevent: log\ndata: {\"id\":3}\n\n");
        send.unbounded_send(Bytes::from(first.clone())).unwrap();
        // The first event arrives while the stream is still open.
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), first.as_bytes());
        drop(send);
        assert!(body.frame().await.is_none(), "the body ends with its stream");
    }

    #[test]
    fn a_refusal_of_the_cluster_is_answered_by_what_it_means() {
        let refusal = |code: u16, reason: &str| {
            kube::Error::Api(
                kube::core::Status::failure(&format!("denied by policy p{code}"), reason)
                    .with_code(code)
                    .boxed(),
            )
        };
        let cases = [
            (422, "Invalid", StatusCode::BAD_REQUEST, "InputError"),
            (400, "BadRequest", StatusCode::BAD_REQUEST, "InputError"),
            (403, "Forbidden", StatusCode::FORBIDDEN, "NotAllowedError"),
            (404, "NotFound", StatusCode::NOT_FOUND, "NotFoundError"),
            (409, "AlreadyExists", StatusCode::CONFLICT, "ConflictError"),
            (
                413,
                "RequestEntityTooLarge",
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLargeError",
            ),
            (
                429,
                "TooManyRequests",
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableError",
            ),
            (
                500,
                "InternalError",
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableError",
            ),
            (
                504,
                "Timeout",
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableError",
            ),
        ];
        for (code, reason, status, name) in cases {
            let reply = cluster_refused("creating the Secret of task a:b", &refusal(code, reason));
            assert_eq!(reply.status, status, "{code}");
            let error = &reply.body.as_ref().unwrap()["error"];
            assert_eq!(error["name"], name, "{code}");
            let message = error["message"].as_str().unwrap();
            assert!(
                message.starts_with("creating the Secret of task a:b: ")
                    && message.contains(&format!("({code} {reason})"))
                    && message.contains(&format!("denied by policy p{code}")),
                "{message}"
            );
            assert_eq!(
                message.ends_with("try again"),
                status == StatusCode::SERVICE_UNAVAILABLE
            );
        }
        let unanswered = cluster_refused(
            "reading Template a/b",
            &kube::Error::LinesCodecMaxLineLengthExceeded,
        );
        assert_eq!(unanswered.status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn a_204_has_no_body_and_no_content_type() {
        let response = Reply::no_content().into_response(&Method::DELETE, "/x");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(response.headers().get(CONTENT_TYPE).is_none());
        assert!(
            response
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .is_empty()
        );
    }
}
