//! Error answers outside the handlers: a path that exists but not for this
//! method (405: the API's JSON error, or a console page), and the frame
//! around console error pages, so a signed-in person keeps the top bar
//! (navigation, Logout) on every 400/403/404/405 page.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::authenticate;
use crate::error::{ApiError, ErrorPage, PageError};
use crate::state::AppState;
use crate::view::layout::{page, Frame};

/// 405: `{"error": {"code": "method_not_allowed", …}}` under `/api/`, else a console page.
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let e = ApiError::MethodNotAllowed(method.to_string());
    if uri.path().starts_with("/api/") {
        e.into_response()
    } else {
        PageError(e).into_response()
    }
}

/// Puts console error pages in the frame of whoever is signed in.
pub async fn framed(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let headers = req.headers().clone();
    let resp = next.run(req).await;
    let Some(info) = resp.extensions().get::<ErrorPage>().cloned() else { return resp };
    match frame_page(&state, &headers, resp.status(), &info.message).await {
        Some(body) => {
            let (mut parts, _) = resp.into_parts();
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(body))
        }
        None => resp,
    }
}

async fn frame_page(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    status: axum::http::StatusCode,
    message: &str,
) -> Option<String> {
    let principal = authenticate(state, headers).await.ok().flatten()?;
    principal.session.as_ref()?;
    let ctx = crate::guard::user_ctx(state, principal).await.ok()?;
    let frame = Frame::bare(state, &ctx, "").await.ok()?;
    let title = crate::view::error::title(status);
    Some(page(&frame, title, crate::view::error::body(status, message)).into_string())
}
