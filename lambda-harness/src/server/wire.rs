//! HTTP helpers both APIs share: bounded body reads, JSON responses, headers.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;

/// Every response the server sends.
pub(super) type Resp = Response<Full<Bytes>>;

/// A request body read up to a limit.
pub(super) enum BodyRead {
    Complete(Bytes),
    TooLarge,
    Broken,
}

/// Reads `body`, refusing more than `limit` bytes.
pub(super) async fn read_body(body: Incoming, limit: usize) -> BodyRead {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => BodyRead::Complete(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => BodyRead::TooLarge,
        Err(_) => BodyRead::Broken,
    }
}

pub(super) fn json_response(status: StatusCode, body: &Value) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

pub(super) fn set_header(headers: &mut hyper::HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

pub(super) fn header_string<B>(req: &Request<B>, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
