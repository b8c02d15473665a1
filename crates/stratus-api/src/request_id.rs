//! `X-Openstack-Request-Id`: accepted from callers when well formed, generated otherwise,
//! returned on every response and carried in every log line of the request through a span.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: &str = "x-openstack-request-id";

/// The request id of the current request, in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A caller's id is kept only when it has OpenStack's shape (`req-` and a UUID), so that a
/// caller cannot write arbitrary text into our logs.
fn accept(value: &str) -> bool {
    value
        .strip_prefix("req-")
        .is_some_and(|u| uuid::Uuid::parse_str(u).is_ok())
}

pub fn generate() -> String {
    format!("req-{}", uuid::Uuid::new_v4())
}

pub async fn layer(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| accept(v))
        .map(str::to_owned)
        .unwrap_or_else(generate);
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let started = std::time::Instant::now();
    let mut resp = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = resp.status().as_u16(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "response"
        )
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(HEADER, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_openstack_shaped_ids_are_accepted() {
        assert!(super::accept("req-7d3a8f0e-2b4c-4d5e-9f60-718293a4b5c6"));
        assert!(!super::accept("req-x"));
        assert!(!super::accept("hello\nworld"));
    }
}
