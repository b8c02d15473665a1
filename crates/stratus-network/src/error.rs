//! The Network service's errors, carrying Neutron's error type names, and their one mapping
//! to the API edge.

use stratus_api::{ApiError, ErrorKind};
use stratus_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A resource that does not exist, or that the caller may not see; `kind` is Neutron's
    /// type name (`NetworkNotFound`, ...).
    #[error("{message}")]
    NotFound { kind: &'static str, message: String },
    /// Bad input: 400 with Neutron's type (`InvalidInput`, `InvalidAllocationPool`, ...).
    #[error("{message}")]
    Invalid { kind: &'static str, message: String },
    /// A conflict with the current state: 409 (`NetworkInUse`, `IpAddressAlreadyAllocated`, ...).
    #[error("{message}")]
    Conflict { kind: &'static str, message: String },
    #[error("{0}")]
    Denied(String),
    #[error("records")]
    Store(#[from] StoreError),
    #[error("{what}")]
    Internal {
        what: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl NetworkError {
    pub fn invalid(message: impl Into<String>) -> Self {
        NetworkError::Invalid {
            kind: "InvalidInput",
            message: format!("Invalid input for operation: {}", message.into()),
        }
    }
    pub fn invalid_as(kind: &'static str, message: impl Into<String>) -> Self {
        NetworkError::Invalid {
            kind,
            message: message.into(),
        }
    }
    pub fn conflict(kind: &'static str, message: impl Into<String>) -> Self {
        NetworkError::Conflict {
            kind,
            message: message.into(),
        }
    }
    pub fn not_found(kind: &'static str, what: &str, id: &str) -> Self {
        NetworkError::NotFound {
            kind,
            message: format!("{what} {id} could not be found."),
        }
    }
    pub fn internal(what: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        NetworkError::Internal {
            what: what.into(),
            source: Some(Box::new(source)),
        }
    }
}

impl From<sqlx::Error> for NetworkError {
    fn from(e: sqlx::Error) -> Self {
        NetworkError::Store(e.into())
    }
}

impl From<ApiError> for NetworkError {
    fn from(e: ApiError) -> Self {
        // Only policy denials cross from the API crate into the service.
        NetworkError::Denied(e.message)
    }
}

impl From<NetworkError> for ApiError {
    fn from(e: NetworkError) -> Self {
        match &e {
            NetworkError::NotFound { kind, message } => ApiError::not_found(message.clone()).with_type(kind),
            NetworkError::Invalid { kind, message } => ApiError::bad_request(message.clone()).with_type(kind),
            NetworkError::Conflict { kind, message } => ApiError::conflict(message.clone()).with_type(kind),
            NetworkError::Denied(m) => ApiError::forbidden(m.clone()).with_type("PolicyNotAuthorized"),
            NetworkError::Store(StoreError::Conflict(_)) => ApiError::new(
                ErrorKind::Conflict,
                "The resource changed or already exists; try again.",
            )
            .with_type("Conflict"),
            NetworkError::Store(_) | NetworkError::Internal { .. } => ApiError::internal(&e),
        }
    }
}

pub type Result<T, E = NetworkError> = std::result::Result<T, E>;
