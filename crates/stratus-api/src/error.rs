//! One error type for every service edge, rendered in the fault shape each OpenStack client
//! expects.
//!
//! The kind decides the status code through one exhaustive match, so a new kind cannot silently
//! become a 400 or a 500. The message is what the user can act on; causes go to the log.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What went wrong, as far as the caller is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// A byte range beyond the data.
    RangeNotSatisfiable,
    /// A microversion outside the range the service speaks.
    NotAcceptable,
    /// A bug: the log has the cause, the user gets no detail.
    Internal,
    /// Try again later (a dependency is down or overloaded).
    Unavailable,
    /// The deployment cannot do this (Nova's 501 for what a hypervisor lacks).
    NotImplemented,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            ErrorKind::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        }
    }

    /// Keystone's `title` field.
    fn identity_title(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "Bad Request",
            ErrorKind::Unauthorized => "Unauthorized",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::NotFound => "Not Found",
            ErrorKind::MethodNotAllowed => "Method Not Allowed",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::PayloadTooLarge => "Request Entity Too Large",
            ErrorKind::UnsupportedMediaType => "Unsupported Media Type",
            ErrorKind::RangeNotSatisfiable => "Requested Range Not Satisfiable",
            ErrorKind::NotAcceptable => "Not Acceptable",
            ErrorKind::Internal => "Internal Server Error",
            ErrorKind::Unavailable => "Service Unavailable",
            ErrorKind::NotImplemented => "Not Implemented",
        }
    }

    /// The top-level key of Nova's (and Cinder's) fault bodies.
    fn compute_key(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "badRequest",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "itemNotFound",
            ErrorKind::MethodNotAllowed => "badMethod",
            ErrorKind::Conflict => "conflictingRequest",
            ErrorKind::PayloadTooLarge => "overLimit",
            ErrorKind::UnsupportedMediaType => "badMediaType",
            ErrorKind::RangeNotSatisfiable => "badRequest",
            ErrorKind::NotAcceptable => "computeFault",
            ErrorKind::Internal => "computeFault",
            ErrorKind::Unavailable => "serviceUnavailable",
            ErrorKind::NotImplemented => "notImplemented",
        }
    }
}

/// The shape of fault bodies a service speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultStyle {
    /// `{"error": {"code": 404, "title": "Not Found", "message": "..."}}`
    Identity,
    /// `{"itemNotFound": {"code": 404, "message": "..."}}`
    Compute,
    /// Neutron: `{"NeutronError": {"type": "...", "message": "...", "detail": ""}}`
    Network,
    /// Glance (webob): `{"code": "404 Not Found", "title": "Not Found", "message": "..."}`
    Image,
}

/// An error at the edge of a service.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// A machine-readable type name where the API has one (Neutron's `type`).
    pub type_name: Option<&'static str>,
    /// For 401: the value of `WWW-Authenticate`.
    pub www_authenticate: Option<String>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            type_name: None,
            www_authenticate: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    /// A bug or an unexpected failure of a dependency. The cause is logged here, once, with the
    /// request id of the span; the caller learns only that it was not their fault.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(error = %chain, "internal error");
        Self::new(
            ErrorKind::Internal,
            "An unexpected error prevented the server from fulfilling your request.",
        )
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    pub fn with_type(mut self, type_name: &'static str) -> Self {
        self.type_name = Some(type_name);
        self
    }

    pub fn body(&self, style: FaultStyle) -> serde_json::Value {
        let code = self.kind.status().as_u16();
        match style {
            FaultStyle::Identity => json!({"error": {
                "code": code,
                "title": self.kind.identity_title(),
                "message": self.message,
            }}),
            FaultStyle::Compute => json!({self.kind.compute_key(): {
                "code": code,
                "message": self.message,
            }}),
            FaultStyle::Image => json!({
                "code": format!("{code} {}", self.kind.identity_title()),
                "title": self.kind.identity_title(),
                "message": self.message,
            }),
            FaultStyle::Network => json!({"NeutronError": {
                "type": self.type_name.unwrap_or(self.kind.identity_title()),
                "message": self.message,
                "detail": "",
            }}),
        }
    }

    fn render(&self, style: FaultStyle) -> Response {
        let mut resp = (self.kind.status(), axum::Json(self.body(style))).into_response();
        if let Some(v) = self
            .www_authenticate
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
        }
        resp
    }
}

impl IntoResponse for ApiError {
    /// Renders in Identity's style and leaves the error in the response's extensions, so that a
    /// service's [`render_faults`] layer can re-render it in that service's own style.
    fn into_response(self) -> Response {
        let mut resp = self.render(FaultStyle::Identity);
        resp.extensions_mut().insert(self);
        resp
    }
}

/// Middleware re-rendering every [`ApiError`] a router produced in `style`.
pub async fn render_faults(style: FaultStyle, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut resp = next.run(req).await;
    if style == FaultStyle::Identity {
        return resp;
    }
    match resp.extensions_mut().remove::<ApiError>() {
        Some(err) => {
            let mut new = err.render(style);
            // keep headers set by outer layers already applied (request id is added later)
            for (k, v) in resp.headers() {
                // The length and type were the old body's.
                if k == http::header::CONTENT_LENGTH || k == http::header::CONTENT_TYPE {
                    continue;
                }
                if !new.headers().contains_key(k) {
                    new.headers_mut().insert(k.clone(), v.clone());
                }
            }
            new
        }
        None => resp,
    }
}

/// Fallback for paths no route matches.
pub async fn not_found_fallback(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("The resource could not be found: {}", uri.path()))
}

/// Turns axum's bare 405 into a fault body.
pub async fn method_not_allowed(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED && resp.extensions().get::<ApiError>().is_none() {
        return ApiError::new(
            ErrorKind::MethodNotAllowed,
            format!("The method {method} is not allowed for {path}."),
        )
        .into_response();
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_body_has_code_title_message() {
        let e = ApiError::not_found("Could not find project: x.");
        assert_eq!(
            e.body(FaultStyle::Identity),
            json!({"error": {"code": 404, "title": "Not Found", "message": "Could not find project: x."}})
        );
    }

    #[test]
    fn compute_body_uses_nova_keys() {
        let e = ApiError::not_found("Instance x could not be found.");
        assert_eq!(
            e.body(FaultStyle::Compute),
            json!({"itemNotFound": {"code": 404, "message": "Instance x could not be found."}})
        );
        assert!(ApiError::conflict("c")
            .body(FaultStyle::Compute)
            .get("conflictingRequest")
            .is_some());
    }

    #[test]
    fn network_body_carries_type() {
        let e = ApiError::conflict("IP exhausted").with_type("IpAddressGenerationFailure");
        assert_eq!(
            e.body(FaultStyle::Network)["NeutronError"]["type"],
            "IpAddressGenerationFailure"
        );
    }
}
