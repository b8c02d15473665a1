//! Microversions (`OpenStack-API-Version: volume 3.27`), as Nova and Cinder negotiate them: a
//! request names the version it speaks, the service answers in it (and says so in the
//! response headers), and a version outside the service's range is refused with 406.

use std::fmt;

use axum::extract::{FromRequestParts, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::HeaderValue;

use crate::error::{ApiError, ErrorKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Microversion {
    pub major: u32,
    pub minor: u32,
}

impl Microversion {
    pub const fn new(major: u32, minor: u32) -> Self {
        Microversion { major, minor }
    }

    /// True when this version is `major.minor` or later.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= Microversion::new(major, minor)
    }

    fn parse(s: &str) -> Option<Self> {
        let (a, b) = s.trim().split_once('.')?;
        let ok = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) && (p == "0" || !p.starts_with('0'));
        if !ok(a) || !ok(b) {
            return None;
        }
        Some(Microversion::new(a.parse().ok()?, b.parse().ok()?))
    }
}

impl fmt::Display for Microversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The versions one service speaks, and the names its headers use.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    /// The service type in `OpenStack-API-Version` (`volume`, `compute`).
    pub service: &'static str,
    /// An older header some clients still send alone (Nova's `X-OpenStack-Nova-API-Version`).
    pub legacy_header: Option<&'static str>,
    pub min: Microversion,
    pub max: Microversion,
}

impl Range {
    /// The version a request asks for: the minimum when it names none, the maximum for
    /// `latest`.
    pub fn negotiate(&self, headers: &http::HeaderMap) -> Result<Microversion, ApiError> {
        let mut asked = None;
        for v in headers.get_all("openstack-api-version") {
            let v = v.to_str().unwrap_or("");
            for item in v.split(',') {
                let mut parts = item.split_whitespace();
                if parts.next().is_some_and(|s| s.eq_ignore_ascii_case(self.service)) {
                    asked = Some(parts.next().unwrap_or("").to_owned());
                }
            }
        }
        if asked.is_none() {
            if let Some(h) = self.legacy_header {
                asked = headers
                    .get(h)
                    .and_then(|v| v.to_str().ok())
                    .map(|s| s.trim().to_owned());
            }
        }
        let Some(asked) = asked else {
            return Ok(self.min);
        };
        if asked.eq_ignore_ascii_case("latest") {
            return Ok(self.max);
        }
        let v = Microversion::parse(&asked).ok_or_else(|| {
            ApiError::bad_request(format!(
                "API Version String {asked} is of invalid format. Must be of format MajorNum.MinorNum."
            ))
        })?;
        if v < self.min || v > self.max {
            return Err(ApiError::new(
                ErrorKind::NotAcceptable,
                format!(
                    "Version {v} is not supported by the API. Minimum is {} and maximum is {}.",
                    self.min, self.max
                ),
            ));
        }
        Ok(v)
    }
}

/// Negotiates the version of every request, makes it available to handlers as
/// [`Microversion`], and names it in the response as clients expect.
pub async fn layer(range: Range, mut req: Request, next: Next) -> Response {
    let v = match range.negotiate(req.headers()) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(v);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(val) = HeaderValue::from_str(&format!("{} {v}", range.service)) {
        h.insert("openstack-api-version", val);
    }
    if let Some(legacy) = range.legacy_header {
        if let Ok(val) = HeaderValue::from_str(&v.to_string()) {
            h.insert(legacy, val);
        }
    }
    h.append(http::header::VARY, HeaderValue::from_static("OpenStack-API-Version"));
    resp
}

impl<S: Send + Sync> FromRequestParts<S> for Microversion {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Microversion>()
            .copied()
            .ok_or_else(|| ApiError::internal(&std::io::Error::other("no microversion layer on this route")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Range = Range {
        service: "volume",
        legacy_header: None,
        min: Microversion::new(3, 0),
        max: Microversion::new(3, 65),
    };

    fn ask(v: &str) -> Result<Microversion, ApiError> {
        let mut h = http::HeaderMap::new();
        h.insert("openstack-api-version", HeaderValue::from_str(v).expect("header"));
        R.negotiate(&h)
    }

    #[test]
    fn negotiation() {
        assert_eq!(
            R.negotiate(&http::HeaderMap::new()).expect("none"),
            Microversion::new(3, 0)
        );
        assert_eq!(ask("volume 3.27").expect("3.27"), Microversion::new(3, 27));
        assert_eq!(
            ask("compute 2.1, volume latest").expect("latest"),
            Microversion::new(3, 65)
        );
        assert_eq!(ask("compute 2.90").expect("other service"), Microversion::new(3, 0));
        assert_eq!(ask("volume 3.66").expect_err("too new").kind, ErrorKind::NotAcceptable);
        assert_eq!(ask("volume 3.x").expect_err("garbage").kind, ErrorKind::BadRequest);
        assert_eq!(
            ask("volume 3.07").expect_err("leading zero").kind,
            ErrorKind::BadRequest
        );
        assert!(Microversion::new(3, 27).at_least(3, 27) && !Microversion::new(3, 26).at_least(3, 27));
    }
}
