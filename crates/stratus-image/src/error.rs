//! The Image service's errors and their one mapping to the API edge.

use stratus_api::{ApiError, ErrorKind};
use stratus_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("No image found with ID {0}")]
    NotFound(String),
    #[error("{0}")]
    NotFoundOther(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Denied(String),
    /// Over a quota or a size cap.
    #[error("{0}")]
    OverLimit(String),
    #[error("{0}")]
    Unavailable(String),
    /// A byte range beyond the data; carries the data's size.
    #[error("The requested range is not satisfiable: the image has {0} bytes.")]
    RangeNotSatisfiable(u64),
    #[error("image records")]
    Store(#[from] StoreError),
    #[error("{what}")]
    Internal {
        what: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl ImageError {
    pub fn internal(what: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        ImageError::Internal {
            what: what.into(),
            source: Some(Box::new(source)),
        }
    }
}

impl From<sqlx::Error> for ImageError {
    fn from(e: sqlx::Error) -> Self {
        ImageError::Store(e.into())
    }
}

impl From<ApiError> for ImageError {
    fn from(e: ApiError) -> Self {
        // Only policy denials cross from the API crate into the service.
        ImageError::Denied(e.message)
    }
}

impl From<ImageError> for ApiError {
    fn from(e: ImageError) -> Self {
        match &e {
            ImageError::NotFound(_) | ImageError::NotFoundOther(_) => ApiError::not_found(e.to_string()),
            ImageError::Validation(m) => ApiError::bad_request(m.clone()),
            ImageError::Conflict(m) => ApiError::conflict(m.clone()),
            ImageError::Denied(m) => ApiError::forbidden(m.clone()),
            ImageError::OverLimit(m) => ApiError::new(ErrorKind::PayloadTooLarge, m.clone()),
            ImageError::Unavailable(m) => ApiError::unavailable(m.clone()),
            ImageError::RangeNotSatisfiable(_) => ApiError::new(ErrorKind::RangeNotSatisfiable, e.to_string()),
            ImageError::Store(StoreError::Conflict(_)) => {
                ApiError::conflict("The image record changed or already exists.")
            }
            ImageError::Store(_) | ImageError::Internal { .. } => ApiError::internal(&e),
        }
    }
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;
