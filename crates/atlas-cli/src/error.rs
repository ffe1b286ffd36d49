//! The CLI's one error type, and the one place where errors become exit
//! codes and machine-readable codes (SPEC §7): 0 success, 2 bad input, 3–6 a
//! gate denial (SPEC §3.2), 1 anything else.

use std::fmt;

use atlas_core::gate::DenialClass;
use atlas_store::StoreError;
use serde::Serialize;

/// Exit code of bad input: an unknown flag, value, user, role, tenant…
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code of everything that is not the caller's fault.
pub const EXIT_INTERNAL: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CliError {
    #[serde(skip)]
    pub exit: u8,
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denial_class: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// Already told (`runs watch` printed the result): only the exit code is left.
    #[serde(skip)]
    pub quiet: bool,
}

impl CliError {
    fn new(exit: u8, code: &'static str, message: impl Into<String>) -> CliError {
        CliError { exit, code, message: message.into(), denial_class: None, reason_code: None, quiet: false }
    }

    /// Malformed or unknown input.
    pub fn invalid(message: impl Into<String>) -> CliError {
        CliError::new(EXIT_BAD_INPUT, "invalid", message)
    }

    /// Something that is not the caller's fault.
    pub fn internal(message: impl Into<String>) -> CliError {
        CliError::new(EXIT_INTERNAL, "internal", message)
    }

    /// In scope but not allowed (cancelling someone else's run without `operations.cancel`).
    pub fn forbidden(message: impl Into<String>) -> CliError {
        CliError::new(4, "forbidden", message)
    }

    /// The record is not in the state the request needs (approving a run that
    /// is not awaiting approval): 409, exit 5 (SPEC §10.2).
    pub fn not_pending(message: impl Into<String>) -> CliError {
        CliError::new(5, "conflict", message)
    }

    /// A refusal by the legitimacy gate, with its exit code from SPEC §3.2.
    pub fn denied(class: DenialClass, reason_code: &str, message: impl Into<String>) -> CliError {
        let exit = match class {
            DenialClass::ScopeDenied => 3,
            DenialClass::CapabilityDenied | DenialClass::InitiatorInvalid => 4,
            DenialClass::AuthorityInvalid
            | DenialClass::TenantNotOperable
            | DenialClass::WriteGateClosed
            | DenialClass::PrerequisiteMissing
            | DenialClass::ApprovalInvalid => 5,
            DenialClass::EvaluationUnavailable => 6,
        };
        CliError {
            denial_class: Some(class.as_str()),
            reason_code: Some(reason_code.to_owned()),
            ..CliError::new(exit, "denied", message)
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Everything the CLI names comes from its caller, so a record that is not
/// found is bad input too.
impl From<StoreError> for CliError {
    fn from(e: StoreError) -> CliError {
        match &e {
            StoreError::Invalid(m) => CliError::invalid(m.clone()),
            StoreError::NotFound(_) => CliError::new(EXIT_BAD_INPUT, "not_found", e.to_string()),
            StoreError::Conflict(m) => CliError::new(EXIT_BAD_INPUT, "conflict", m.clone()),
            StoreError::Unavailable(m) => CliError::new(EXIT_INTERNAL, "database_unavailable", m.clone()),
            _ => CliError::internal(with_sources(&e)),
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> CliError {
        CliError::internal(format!("{e:#}"))
    }
}

/// `error: cause: cause…` on one line, so that a database error says what failed.
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.replace('\n', " ")
}

/// Clap's usage errors as one line: its message without the usage block.
pub fn from_usage(e: &clap::Error) -> CliError {
    let rendered = e.render().to_string();
    let message = rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message).to_owned();
    CliError::invalid(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_exit_codes_once() {
        let cases = [
            (StoreError::Invalid("bad".into()), 2, "invalid"),
            (StoreError::NotFound("user `x`".into()), 2, "not_found"),
            (StoreError::Conflict("dup".into()), 2, "conflict"),
            (StoreError::Corrupt("x".into()), 1, "internal"),
        ];
        for (e, exit, code) in cases {
            let c = CliError::from(e);
            assert_eq!((c.exit, c.code), (exit, code));
        }
    }

    #[test]
    fn denials_follow_the_spec_table() {
        let exits: Vec<u8> = [
            DenialClass::ScopeDenied,
            DenialClass::CapabilityDenied,
            DenialClass::InitiatorInvalid,
            DenialClass::WriteGateClosed,
            DenialClass::ApprovalInvalid,
            DenialClass::EvaluationUnavailable,
        ]
        .into_iter()
        .map(|c| CliError::denied(c, "x", "m").exit)
        .collect();
        assert_eq!(exits, [3, 4, 4, 5, 5, 6]);
    }
}
