//! API errors in KFP's shape: a `google.rpc.Status` body (`{"code", "message", "details"}`)
//! with the HTTP status grpc-gateway maps the code to. The upload endpoints answer with their
//! own shape (`{"error_message", "error_details"}`), as KFP's do.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use penstock_engine::StoreError;
use penstock_store::CatalogError;
use serde_json::json;

/// The gRPC status codes the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 3 → 400.
    InvalidArgument,
    /// 5 → 404.
    NotFound,
    /// 6 → 409.
    AlreadyExists,
    /// 9 → 400 (grpc-gateway's mapping).
    FailedPrecondition,
    /// 12 → 501.
    Unimplemented,
    /// 16 → 401: no valid credentials.
    Unauthenticated,
    /// 7 → 403: credentials valid, access refused (or a cross-site request).
    PermissionDenied,
    /// 3 → 415: a state-changing request whose body is neither JSON nor multipart.
    UnsupportedMediaType,
    /// 8 (RESOURCE_EXHAUSTED) → 413: the request body is larger than allowed.
    PayloadTooLarge,
    /// 13 → 500.
    Internal,
}

impl Code {
    /// The numeric gRPC code.
    pub fn number(self) -> i32 {
        match self {
            Code::InvalidArgument => 3,
            Code::NotFound => 5,
            Code::AlreadyExists => 6,
            Code::FailedPrecondition => 9,
            Code::Unimplemented => 12,
            Code::Unauthenticated => 16,
            Code::PermissionDenied => 7,
            Code::UnsupportedMediaType => 3,
            Code::PayloadTooLarge => 8,
            Code::Internal => 13,
        }
    }

    /// The HTTP status.
    pub fn http(self) -> StatusCode {
        match self {
            Code::InvalidArgument | Code::FailedPrecondition => StatusCode::BAD_REQUEST,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::AlreadyExists => StatusCode::CONFLICT,
            Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The gRPC code.
    pub code: Code,
    /// What went wrong, naming the field or value.
    pub message: String,
    /// Answer in the upload endpoints' shape instead of `google.rpc.Status`.
    pub upload_shape: bool,
}

impl ApiError {
    /// An error with this code.
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            upload_shape: false,
        }
    }

    /// 400: the request is wrong.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::InvalidArgument, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::NotFound, message)
    }

    /// 400 (FAILED_PRECONDITION): the thing is in the wrong state.
    pub fn failed_precondition(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::FailedPrecondition, message)
    }

    /// 501.
    pub fn unimplemented(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::Unimplemented, message)
    }

    /// 500.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::Internal, message)
    }

    /// The same error in the upload endpoints' shape.
    pub fn for_upload(mut self) -> ApiError {
        self.upload_shape = true;
        self
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> ApiError {
        match e {
            CatalogError::NotFound(m) => ApiError::not_found(m),
            CatalogError::AlreadyExists(m) => ApiError::new(Code::AlreadyExists, m),
            CatalogError::FailedPrecondition(m) => ApiError::failed_precondition(m),
            CatalogError::Store(s) => ApiError::from(s),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::error!("store: {e}");
        ApiError::internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = if self.upload_shape {
            json!({"error_message": self.message, "error_details": self.message})
        } else {
            json!({"code": self.code.number(), "message": self.message, "details": []})
        };
        (self.code.http(), Json(body)).into_response()
    }
}

/// A handler's result.
pub type ApiResult<T> = Result<T, ApiError>;
