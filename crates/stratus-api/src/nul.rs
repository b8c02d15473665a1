//! NUL characters are refused at the edge of every API, before authentication.
//!
//! PostgreSQL cannot store U+0000 in a text column (it fails the whole statement) while SQLite
//! stores it, so the same request would be a 500 on one store and a silently odd record on the
//! other. No OpenStack resource has a use for it: a NUL in the path, the query or any string of
//! a JSON body is a 400 that says so, the same on both stores.
//!
//! This must not look into bodies that are not JSON (image data is binary).

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// True when a JSON text holds a NUL in a string or a key: the escape `\u0000`, or a raw NUL
/// byte (which JSON forbids, but a parser is not asked first). Backslashes occur only inside
/// strings, so an escape is recognised by walking them pairwise.
pub fn json_has_nul(text: &[u8]) -> bool {
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\\' => {
                if text.get(i + 1) == Some(&b'u') && text.get(i + 2..i + 6) == Some(b"0000".as_slice()) {
                    return true;
                }
                i += 2;
            }
            0 => return true,
            _ => i += 1,
        }
    }
    false
}

/// True when a percent-encoded path or query decodes to a NUL somewhere.
pub fn uri_has_nul(raw: &str) -> bool {
    raw.as_bytes().windows(3).any(|w| w == b"%00") || raw.contains('\0')
}

pub fn body_error() -> ApiError {
    ApiError::bad_request(
        "Invalid input: the request body holds a NUL character (\\u0000), which no field may contain.",
    )
}

/// Middleware refusing `%00` in the path or the query string.
pub async fn refuse_nul_in_uri(req: Request, next: Next) -> Response {
    let uri = req.uri();
    if uri_has_nul(uri.path()) {
        return ApiError::bad_request(
            "Invalid input: the path holds a NUL character (%00), which no id or name may contain.",
        )
        .into_response();
    }
    if uri.query().is_some_and(uri_has_nul) {
        return ApiError::bad_request(
            "Invalid input: the query string holds a NUL character (%00), which no filter may contain.",
        )
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_are_found_in_strings_and_keys() {
        assert!(json_has_nul(br#"{"name": "a\u0000b"}"#));
        assert!(json_has_nul(br#"{"a\u0000": 1}"#));
        assert!(json_has_nul(b"{\"name\": \"a\0\"}"));
        // An escaped backslash followed by the text u0000 is no NUL.
        assert!(!json_has_nul(br#"{"name": "a\\u0000"}"#));
        assert!(json_has_nul(br#"{"name": "a\\\u0000"}"#));
        assert!(json_has_nul(br#"{"name": "\u00001"}"#));
        assert!(!json_has_nul(br#"{"name": "\u0001", "n": "\"u0000"}"#));
    }

    #[test]
    fn percent_encoded_nul_is_found() {
        assert!(uri_has_nul("/v2.0/networks/%00"));
        assert!(uri_has_nul("name=a%00b"));
        assert!(!uri_has_nul("name=a%2500b"));
        assert!(!uri_has_nul("/v2.0/networks/abc"));
    }
}
