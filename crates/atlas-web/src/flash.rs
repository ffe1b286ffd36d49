//! The flash line: one message shown on the next page after a form's
//! redirect ("Operation queued. View run →"), kept in the session row.

use serde::{Deserialize, Serialize};

use crate::ctx::Ctx;
use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Success,
    /// A refusal: shown in the policy color, never as a crash.
    Error,
    Info,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    pub kind: Kind,
    pub text: String,
    /// A link after the text: (href, label). Only local paths are rendered.
    pub link: Option<(String, String)>,
}

impl Flash {
    pub fn success(text: impl Into<String>) -> Flash {
        Flash { kind: Kind::Success, text: text.into(), link: None }
    }

    pub fn error(text: impl Into<String>) -> Flash {
        Flash { kind: Kind::Error, text: text.into(), link: None }
    }

    pub fn with_link(mut self, href: impl Into<String>, label: impl Into<String>) -> Flash {
        self.link = Some((href.into(), label.into()));
        self
    }

    pub fn parse(stored: &str) -> Option<Flash> {
        serde_json::from_str(stored).ok()
    }
}

/// Keeps `flash` for the next page of this session (token requests have none).
pub async fn set(state: &AppState, ctx: &Ctx, flash: &Flash) -> ApiResult<()> {
    if let Some(s) = &ctx.session {
        let text = serde_json::to_string(flash).unwrap_or_default();
        state.store.session_set_flash(&s.id_hash, Some(&text)).await?;
    }
    Ok(())
}

/// Takes the pending flash, if any, so it is shown once.
pub async fn take(state: &AppState, ctx: &Ctx) -> ApiResult<Option<Flash>> {
    let Some(s) = &ctx.session else { return Ok(None) };
    let Some(stored) = &s.flash else { return Ok(None) };
    state.store.session_set_flash(&s.id_hash, None).await?;
    Ok(Flash::parse(stored))
}
