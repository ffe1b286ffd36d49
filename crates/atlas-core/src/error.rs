//! The domain's error vocabulary, with no HTTP in it.

use crate::gate::DenialClass;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// A record the caller named does not exist (or is hidden from them).
    #[error("{0} not found")]
    NotFound(String),
    /// The legitimacy gate refused.
    #[error("{message}")]
    Denied { class: DenialClass, reason_code: String, message: String },
    /// The request conflicts with the current state (a duplicate name, say).
    #[error("{0}")]
    Conflict(String),
    /// The input is malformed or names something unknown.
    #[error("{0}")]
    Invalid(String),
}
