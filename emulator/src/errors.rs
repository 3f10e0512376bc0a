//! The KO answers of the API: `{"status":"KO","message":"<text> #<n>"}` with their HTTP status.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use crate::state::StoreError;

/// A KO answer: the HTTP status and the message (which carries the `#n` tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    /// A KO carried by an HTTP 200, as the service does for refused operations.
    pub fn ko(message: impl Into<String>) -> Self {
        Self::with_status(StatusCode::OK, message)
    }

    pub fn with_status(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn not_authenticated() -> Self {
        Self::with_status(StatusCode::UNAUTHORIZED, "Not authenticated #247")
    }

    pub fn not_customer() -> Self {
        Self::with_status(
            StatusCode::FORBIDDEN,
            "Must be a customer (Premium, Access) #200",
        )
    }

    pub fn flood() -> Self {
        Self::with_status(StatusCode::FORBIDDEN, "Flood detected: IP Locked #374")
    }

    pub fn not_found() -> Self {
        Self::with_status(StatusCode::NOT_FOUND, "Resource not found #469")
    }

    pub fn content_type_not_json() -> Self {
        Self::with_status(StatusCode::BAD_REQUEST, "Content-Type not JSON #24")
    }

    pub fn bad_json(detail: impl std::fmt::Display) -> Self {
        Self::with_status(
            StatusCode::BAD_REQUEST,
            format!("Invalid JSON: {detail} #25"),
        )
    }

    pub fn missing(field: &str) -> Self {
        Self::ko(format!("Missing parameter {field} #26"))
    }

    pub fn not_renamed() -> Self {
        Self::ko("No file has been renamed #312")
    }

    pub fn internal() -> Self {
        Self::with_status(StatusCode::INTERNAL_SERVER_ERROR, "Internal error #500")
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::not_found(),
            StoreError::InvalidName => Self::ko(crate::names::INVALID_NAME),
            StoreError::FolderExists => Self::ko("Folder already exists #618"),
            StoreError::NotEmpty => Self::ko("Folder not empty #619"),
            StoreError::RootFolder => Self::ko("Root folder cannot be changed #620"),
            StoreError::IntoItself => Self::ko("Cannot move a folder into itself #621"),
            StoreError::Io(e) => {
                tracing::error!("storage failure: {e}");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"status": "KO", "message": self.message});
        (self.status, Json(body)).into_response()
    }
}
