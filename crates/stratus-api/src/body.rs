//! Strict request bodies: a body is parsed into a typed schema (unknown fields refused where
//! the type says so), and a bad one gets a 400 naming the field that failed.
//!
//! This must not decide what is valid beyond the shape: range and cross-field checks belong to
//! the service that owns the resource.

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{ApiError, ErrorKind};

/// Parse `bytes` as JSON into `T`, with an error naming the failing path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "The request body is empty; a JSON object is required.",
        ));
    }
    if crate::nul::json_has_nul(bytes) {
        return Err(crate::nul::body_error());
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("Malformed request body: {inner}."))
        } else if path == "." {
            ApiError::bad_request(format!("Invalid input for the request body: {inner}."))
        } else {
            ApiError::bad_request(format!("Invalid input for field '{path}': {inner}."))
        }
    })
}

/// A JSON body parsed into `T`. Size limits are enforced by the body-limit layer below it.
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(http::header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            if !ct.is_empty() && !ct.contains("json") {
                return Err(ApiError::new(
                    ErrorKind::UnsupportedMediaType,
                    format!("The request content type '{ct}' is not supported; use application/json."),
                ));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_rejection)?;
        parse_json(&bytes).map(ValidJson)
    }
}

/// `{"<key>": {...}}`, strictly: a body without the key, or with other keys (such as a bulk
/// `{"<key>s": [...]}`), is refused with a message naming the problem.
pub async fn keyed_json<T: DeserializeOwned>(req: Request, key: &str) -> Result<T, ApiError> {
    Ok(take_keyed(json_object(req).await?, key, &[])?.0)
}

/// The request body as a JSON object, refused when it is another media type or not an object.
pub async fn json_object(req: Request) -> Result<Map<String, Value>, ApiError> {
    if let Some(ct) = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        if !ct.is_empty() && !ct.contains("json") {
            return Err(ApiError::new(
                ErrorKind::UnsupportedMediaType,
                format!("Content type '{ct}' is not supported; use application/json."),
            ));
        }
    }
    let bytes = bytes_of(req).await?;
    match parse_json(&bytes)? {
        Value::Object(obj) => Ok(obj),
        _ => Err(ApiError::bad_request("The request body must be a JSON object.")),
    }
}

/// `obj[key]` as `T`, with the keys of `siblings` that are present; any other key is refused.
pub fn take_keyed<T: DeserializeOwned>(
    mut obj: Map<String, Value>,
    key: &str,
    siblings: &[&str],
) -> Result<(T, Map<String, Value>), ApiError> {
    let stray: Vec<&String> = obj
        .keys()
        .filter(|k| *k != key && !siblings.contains(&k.as_str()))
        .collect();
    if !obj.contains_key(key) || !stray.is_empty() {
        let found: Vec<&String> = obj.keys().collect();
        return Err(ApiError::bad_request(format!(
            "Resource body required: expected {{\"{key}\": {{...}}}}, got keys {found:?}."
        )));
    }
    let inner = obj.remove(key).unwrap_or(Value::Null);
    let t = serde_path_to_error::deserialize(inner).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.to_string();
        if let Some(field) = msg.strip_prefix("unknown field `").and_then(|r| r.split('`').next()) {
            ApiError::bad_request(format!("Unrecognized attribute(s) '{field}'"))
        } else {
            ApiError::bad_request(format!("Invalid input for {path}. Reason: {msg}."))
        }
    })?;
    Ok((t, obj))
}

/// The whole body.
pub async fn bytes_of(req: Request) -> Result<Bytes, ApiError> {
    use axum::extract::FromRequest;
    Bytes::from_request(req, &()).await.map_err(body_rejection)
}

/// Maps a failure to read the body (most often the size limit) to a fault.
pub fn body_rejection(rej: axum::extract::rejection::BytesRejection) -> ApiError {
    if rej.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            "The request body is larger than the server accepts.",
        )
    } else {
        ApiError::bad_request(format!("Could not read the request body: {rej}."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[allow(dead_code)]
        inner: Inner,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[allow(dead_code)]
        count: u32,
    }

    #[test]
    fn names_the_failing_field() {
        let e = parse_json::<Outer>(br#"{"inner": {"count": "x"}}"#).unwrap_err();
        assert!(e.message.contains("'inner.count'"), "{}", e.message);
        let e = parse_json::<Outer>(br#"{"inner": {"count": 1, "extra": 2}}"#).unwrap_err();
        assert!(e.message.contains("unknown field `extra`"), "{}", e.message);
    }

    #[test]
    fn malformed_and_empty_bodies_are_400() {
        let e = parse_json::<Outer>(b"{not json").unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert!(e.message.starts_with("Malformed request body"), "{}", e.message);
        assert!(parse_json::<Outer>(b"").unwrap_err().message.contains("empty"));
    }
}
