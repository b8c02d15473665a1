//! Identity's errors and their one mapping to the API edge.

use stratus_api::{ApiError, ErrorKind};
use stratus_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("Could not find {kind}: {id}.")]
    NotFound { kind: &'static str, id: String },
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Conflict(String),
    /// Authentication failed; the message is safe to show.
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Denied(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("identity store")]
    Store(#[from] StoreError),
    #[error("{what}")]
    Internal {
        what: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl IdentityError {
    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        IdentityError::NotFound { kind, id: id.into() }
    }
    pub fn internal(what: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        IdentityError::Internal {
            what: what.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// Maps a store conflict (a unique or foreign key refusing the write) to a 409 saying
/// `message`; any other store error passes through.
pub(crate) fn on_conflict(message: impl FnOnce() -> String) -> impl FnOnce(StoreError) -> IdentityError {
    move |e| match e {
        StoreError::Conflict(_) => IdentityError::Conflict(message()),
        e => e.into(),
    }
}

impl From<ApiError> for IdentityError {
    fn from(e: ApiError) -> Self {
        // Only policy denials cross from the API crate into the service.
        IdentityError::Denied(e.message)
    }
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        match &e {
            IdentityError::NotFound { .. } => ApiError::not_found(e.to_string()),
            IdentityError::Validation(m) => ApiError::bad_request(m.clone()),
            IdentityError::Conflict(m) => ApiError::conflict(m.clone()),
            IdentityError::Unauthenticated(m) => ApiError::unauthorized(m.clone()),
            IdentityError::Denied(m) => ApiError::forbidden(m.clone()),
            IdentityError::TooLarge(m) => ApiError::new(ErrorKind::PayloadTooLarge, m.clone()),
            IdentityError::Store(StoreError::Conflict(_)) => ApiError::conflict(
                "Conflict occurred attempting to store the resource: it already exists or is in use.",
            ),
            IdentityError::Store(_) | IdentityError::Internal { .. } => ApiError::internal(&e),
        }
    }
}

pub type Result<T, E = IdentityError> = std::result::Result<T, E>;
