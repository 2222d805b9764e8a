//! The serve crate's errors: [`ServeError`] for setup (tokens file, audit log, TLS, binding) and
//! [`ApiError`], the JSON error every route answers with (`{code, message}` and, for a query
//! that does not parse, the character `position` of the problem).

use std::path::PathBuf;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use canhgac_index::IndexError;
use serde::Serialize;

/// Errors while setting the server up or running it.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The tokens file cannot be read or is invalid.
    #[error("tokens file {path}: {message}")]
    Tokens { path: PathBuf, message: String },

    /// A role string is not one of `national`, `agency:<id>`, `manager`, `manager:<id>`.
    #[error("invalid role {0:?}: expected national, agency:<id>, manager or manager:<id>")]
    Role(String),

    /// The audit log cannot be opened or written.
    #[error("audit log {path}: {source}")]
    Audit {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The TLS certificate or key cannot be used.
    #[error("TLS {path}: {message}")]
    Tls { path: PathBuf, message: String },

    /// Listening or serving failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// No randomness from the operating system (token generation).
    #[error("random token: {0}")]
    Random(String),
}

pub type Result<T, E = ServeError> = std::result::Result<T, E>;

/// An API error: an HTTP status and a JSON body `{code, message[, position]}`.
#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// For `bad_query`: the 0-based character offset of the problem in the query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            position: None,
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "an API token is required: send `Authorization: Bearer <token>`",
        )
    }

    pub fn forbidden(role: &str, what: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("role {role} may not {what}"),
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<IndexError> for ApiError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::Query {
                position, message, ..
            } => ApiError {
                position: Some(position),
                ..ApiError::bad_request(
                    "bad_query",
                    format!("invalid query at character {position}: {message}"),
                )
            },
            IndexError::Invalid { what, message } => {
                ApiError::bad_request("bad_request", format!("invalid {what}: {message}"))
            }
            IndexError::NotFound { id } => ApiError::not_found(format!("incident {id} not found")),
            other => {
                tracing::error!(error = %other, "index error");
                ApiError::internal(other.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let retry = self.retry_after;
        let mut resp = (status, axum::Json(self)).into_response();
        if let Some(s) = retry {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"canhgac\""),
            );
        }
        resp
    }
}
