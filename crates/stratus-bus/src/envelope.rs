//! What travels on the bus: an envelope around a method call, and the reply.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The envelope format; a receiver refuses formats it does not know.
pub const FORMAT: u32 = 1;

/// Who asked, carried across every hop so that policy, logs and onward REST calls see the
/// original caller and request id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    pub request_id: String,
    pub user_id: String,
    pub project_id: Option<String>,
    pub roles: Vec<String>,
    /// The caller's token, for the REST calls a handler makes on their behalf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub format: u32,
    pub method: String,
    /// The version of the method's arguments, `major.minor`: a receiver accepts the same major
    /// and a minor no newer than its own.
    pub version: String,
    pub context: Context,
    pub args: Value,
}

/// A failure on the receiving side, sent back to the caller of a `call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct RemoteError {
    /// A name the caller can match on (`NoValidHost`, `UnsupportedVersion`, ...).
    pub kind: String,
    pub message: String,
}

impl RemoteError {
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        RemoteError {
            kind: kind.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Reply {
    Ok(Value),
    Err(RemoteError),
}

/// Whether a receiver at `have` accepts a message at `sent`.
pub(crate) fn compatible(have: &str, sent: &str) -> bool {
    let parse = |v: &str| -> Option<(u32, u32)> {
        let (a, b) = v.split_once('.')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    match (parse(have), parse(sent)) {
        (Some((hm, hn)), Some((sm, sn))) => hm == sm && sn <= hn,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions() {
        assert!(super::compatible("1.3", "1.0"));
        assert!(super::compatible("1.3", "1.3"));
        assert!(!super::compatible("1.3", "1.4"));
        assert!(!super::compatible("2.0", "1.0"));
        assert!(!super::compatible("1.3", "one"));
    }
}
