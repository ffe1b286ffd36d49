//! Errors map to HTTP once, here (SPEC §3.2, §7): one `ApiError`, one
//! `status_code()`, one JSON rendering; `PageError` renders the same error as
//! an HTML page. A 404 is always the same body, whether the thing is missing
//! or hidden: reason codes of `scope_denied` never reach a client.

use atlas_core::gate::{Decision, DenialClass};
use atlas_engine::ServiceError;
use atlas_store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Missing, or hidden from this viewer: the two are indistinguishable.
    #[error("Not found")]
    NotFound,
    #[error("Sign in first")]
    Unauthenticated,
    /// In scope, but without the capability.
    #[error("{0}")]
    Forbidden(String),
    #[error("The form has expired or did not come from this site; reload the page and try again.")]
    Csrf,
    /// The body could not be parsed at all.
    #[error("{0}")]
    BadRequest(String),
    #[error("The request is too large")]
    TooLarge,
    /// Parsed, but invalid: an unknown type or parameter, a wrong value.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Throttled(String),
    /// The legitimacy gate refused a start (never `scope_denied`: that is `NotFound`).
    #[error("{}", .0.message)]
    Denied(Box<Decision>),
    /// The path exists, but not for this method.
    #[error("This address does not accept {0} requests")]
    MethodNotAllowed(String),
    #[error("The database is not reachable")]
    Unavailable,
    #[error("Something went wrong on our side; the error has been logged")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// A gate refusal; `scope_denied` becomes the uniform 404.
    pub fn denied(decision: Decision) -> ApiError {
        match decision.denial_class {
            Some(DenialClass::ScopeDenied) | None => ApiError::NotFound,
            Some(_) => ApiError::Denied(Box::new(decision)),
        }
    }

    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> ApiError {
        ApiError::Internal(Box::new(e))
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::Csrf => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Denied(d) => match d.denial_class {
                Some(DenialClass::ScopeDenied) | None => StatusCode::NOT_FOUND,
                Some(DenialClass::CapabilityDenied) => StatusCode::FORBIDDEN,
                Some(DenialClass::InitiatorInvalid) => StatusCode::UNAUTHORIZED,
                Some(DenialClass::EvaluationUnavailable) => StatusCode::SERVICE_UNAVAILABLE,
                Some(_) => StatusCode::CONFLICT,
            },
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound => "not_found",
            ApiError::Unauthenticated => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Csrf => "csrf_failed",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::TooLarge => "payload_too_large",
            ApiError::Invalid(_) => "invalid",
            ApiError::Conflict(_) => "conflict",
            ApiError::Throttled(_) => "too_many_requests",
            ApiError::Denied(d) => d.denial_class.map_or("not_found", DenialClass::as_str),
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The words a person reads, the same on both surfaces.
    pub fn message(&self) -> String {
        match self {
            ApiError::Denied(d) if d.denial_class == Some(DenialClass::ScopeDenied) => "Not found".into(),
            other => other.to_string(),
        }
    }

    /// The JSON body: `{"error": {"code", "message", "denial_class"?, "reason_code"?}}`.
    pub fn body(&self) -> Value {
        let mut error = json!({"code": self.code(), "message": self.message()});
        if let (ApiError::Denied(d), Value::Object(m)) = (self, &mut error) {
            if d.denial_class != Some(DenialClass::ScopeDenied) {
                m.insert("denial_class".into(), json!(d.denial_class));
                m.insert("reason_code".into(), json!(d.reason_code));
            }
        }
        json!({ "error": error })
    }

    fn log(&self) {
        if let ApiError::Internal(e) = self {
            let mut chain = vec![e.to_string()];
            let mut source = e.source();
            while let Some(s) = source {
                chain.push(s.to_string());
                source = s.source();
            }
            tracing::error!(error = %chain.join(": "), "request failed");
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        (self.status_code(), Json(self.body())).into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        match e {
            ServiceError::Invalid(m) => ApiError::Invalid(m),
            ServiceError::Denied(d) => ApiError::denied(*d),
            ServiceError::NotFound(_) => ApiError::NotFound,
            ServiceError::Forbidden(m) => ApiError::Forbidden(m),
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::Store(e) => ApiError::from(e),
            other => ApiError::internal(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(_) => ApiError::NotFound,
            StoreError::Invalid(m) => ApiError::Invalid(m),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            e @ StoreError::Approval(_) => ApiError::from(ServiceError::from(e)),
            other => ApiError::internal(other),
        }
    }
}

/// The same error, rendered as a console page.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> PageError {
        PageError(e.into())
    }
}

/// Marks an error page so that `errors::framed` can put it in the frame.
#[derive(Clone, Debug)]
pub struct ErrorPage {
    pub message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.0.log();
        let status = self.0.status_code();
        let message = self.0.message();
        let mut resp = (status, crate::view::error::page(status, &message)).into_response();
        resp.extensions_mut().insert(ErrorPage { message });
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
pub type PageResult<T> = Result<T, PageError>;
