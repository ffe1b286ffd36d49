//! Console pages: each handler gets an authorized `Ctx` from the guard,
//! reads or acts through the store and `atlas_engine::service`, and renders
//! with `view`. Forms answer with a redirect and a flash line.

pub mod audit;
pub mod changes;
pub mod confirm;
pub mod fleet;
pub mod home;
pub mod members;
pub mod notifications;
pub mod operations;
pub mod run;
pub mod schedules;
pub mod search;
pub mod settings;
pub mod tenants;

use axum::response::{IntoResponse, Redirect, Response};

/// The answer to a form: back to a page (303, so a reload does not resubmit).
pub fn back(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// `axum::Form`, whose refusals render as console pages with the status of
/// `ApiError` (413 too large, 422 invalid, 400 otherwise).
pub struct PageForm<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for PageForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = crate::error::PageError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        use crate::error::ApiError;
        use axum::http::StatusCode;
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(PageForm(v)),
            Err(e) => Err(match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
                StatusCode::UNPROCESSABLE_ENTITY => ApiError::Invalid(e.body_text()),
                _ => ApiError::BadRequest(e.body_text()),
            }
            .into()),
        }
    }
}

/// The answer to a start from a form (a button, Retry, Run now): a redirect
/// to `back` with "Operation queued. View run →" (or the active run when
/// deduplicated). A gate refusal is a flash line with the decision's message —
/// except scope and capability denials, which are the 404/403 of the access
/// rule like everywhere else.
pub async fn started(
    state: &crate::state::AppState,
    ctx: &crate::ctx::Ctx,
    result: Result<atlas_store::run::Inserted, atlas_engine::ServiceError>,
    back: &str,
    what: &str,
) -> crate::error::PageResult<Response> {
    use crate::error::ApiError;
    use crate::flash::{self, Flash};
    use atlas_core::gate::DenialClass;
    let flash = match result {
        Ok(ins) if ins.deduplicated => Flash::success("This operation is already queued or running.")
            .with_link(crate::query::run_url(ins.run.id), "View the active run →"),
        Ok(ins) => Flash::success("Operation queued.").with_link(crate::query::run_url(ins.run.id), "View run →"),
        Err(e) => match ApiError::from(e) {
            ApiError::Denied(d)
                if !matches!(d.denial_class, Some(DenialClass::ScopeDenied | DenialClass::CapabilityDenied)) =>
            {
                Flash::error(format!("You can't start {what}: {}", lower_first(&d.message)))
            }
            ApiError::Conflict(m) => Flash::error(m),
            other => return Err(other.into()),
        },
    };
    flash::set(state, ctx, &flash).await?;
    Ok(self::back(back))
}

/// "The write gate …" → "the write gate …", to follow a colon.
pub fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
