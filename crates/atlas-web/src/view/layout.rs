//! The frame of every console page (UI.md "Frame"): workspace switcher,
//! navigation shown per capability, the notification bell with the unread
//! count, the user menu with Logout, and the flash line.

use atlas_core::Capability;
use atlas_store::admin::Workspace;
use maud::{html, Markup, DOCTYPE};

use super::{form, icon};
use crate::ctx::Ctx;
use crate::error::ApiResult;
use crate::flash::{self, Flash, Kind};
use crate::state::AppState;

pub struct Frame {
    user_name: String,
    csrf: String,
    workspaces: Vec<Workspace>,
    current: Option<Workspace>,
    nav: Vec<(&'static str, String, &'static str)>,
    unread: i64,
    flash: Option<Flash>,
    active: &'static str,
}

/// The sections of the top bar, each shown only with its capability.
/// The first one the viewer may open is their home (`/`, sign-in): the
/// fleet overview for anyone who may see tenants.
const SECTIONS: [(&str, &str, Capability); 5] = [
    ("overview", "/admin/fleet", Capability::TenantView),
    ("operations", "/admin/operations", Capability::OperationsView),
    ("tenants", "/admin/tenants", Capability::TenantView),
    ("audit", "/admin/audit", Capability::AuditView),
    ("members", "/admin/members", Capability::MembersManage),
];

/// The first section this viewer may open: where `/` and sign-in lead.
pub fn start_page(ctx: &Ctx) -> String {
    let q = ctx.workspace.as_ref().map(|w| format!("?workspace={}", w.slug)).unwrap_or_default();
    SECTIONS
        .iter()
        .find(|(_, _, cap)| ctx.allows(*cap, &[]))
        .map_or_else(|| "/admin/notifications".to_owned(), |(_, href, _)| format!("{href}{q}"))
}

impl Frame {
    /// Loads what the frame shows; `active` names the current section.
    pub async fn load(state: &AppState, ctx: &Ctx, active: &'static str) -> ApiResult<Frame> {
        let mut frame = Frame::bare(state, ctx, active).await?;
        frame.flash = flash::take(state, ctx).await?;
        Ok(frame)
    }

    /// The frame without taking the pending flash (error pages leave it for the next page).
    pub async fn bare(state: &AppState, ctx: &Ctx, active: &'static str) -> ApiResult<Frame> {
        let mut workspaces = Vec::new();
        for m in state.store.memberships_of_user(ctx.user.id).await? {
            workspaces.push(state.store.workspace_get(m.workspace_id).await?);
        }
        let current = ctx.workspace.clone();
        let q = current.as_ref().map(|w| format!("?workspace={}", w.slug)).unwrap_or_default();
        let nav = SECTIONS
            .iter()
            .filter(|(_, _, cap)| ctx.allows(*cap, &[]))
            .map(|(key, href, _)| (*key, format!("{href}{q}"), *key))
            .collect();
        Ok(Frame {
            user_name: ctx.user.display_name.clone(),
            csrf: ctx.csrf().to_owned(),
            workspaces,
            current,
            nav,
            unread: state.store.notifications_unread_count(ctx.user.id).await?,
            flash: None,
            active,
        })
    }
}

fn label(key: &str) -> &'static str {
    match key {
        "overview" => "Overview",
        "operations" => "Operations",
        "tenants" => "Tenants",
        "audit" => "Audit",
        "members" => "Members",
        _ => "",
    }
}

fn flash_line(f: &Flash) -> Markup {
    let class = match f.kind {
        Kind::Success => "flash flash-success",
        Kind::Error => "flash flash-error",
        Kind::Info => "flash flash-info",
    };
    html! {
        p class=(class) role="status" {
            (f.text)
            @if let Some((href, text)) = &f.link {
                @if href.starts_with('/') && !href.starts_with("//") {
                    " " a href=(href) { strong { (text) } }
                }
            }
        }
    }
}

/// A whole console page.
pub fn page(frame: &Frame, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · TenantAtlas" }
                meta name="csrf-token" content=(frame.csrf);
                @if let Some(w) = &frame.current { meta name="atlas-workspace" content=(w.slug); }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.topbar {
                    span.brand { "TenantAtlas" }
                    @if !frame.workspaces.is_empty() {
                        form method="post" action="/admin/workspace" {
                            (form::csrf(&frame.csrf))
                            label for="ws-switch" class="skip" { "Workspace" }
                            select id="ws-switch" name="workspace" data-autosubmit aria-label="Workspace" {
                                @for w in &frame.workspaces {
                                    @let selected = frame.current.as_ref().is_some_and(|c| c.id == w.id);
                                    option value=(w.slug) selected[selected] { (w.name) }
                                }
                            }
                            noscript { button.link type="submit" { "Switch" } }
                        }
                    }
                    nav aria-label="Main" {
                        ul {
                            @for (key, href, _) in &frame.nav {
                                li {
                                    @if *key == frame.active {
                                        a href=(href) aria-current="page" { (label(key)) }
                                    } @else {
                                        a href=(href) { (label(key)) }
                                    }
                                }
                            }
                        }
                    }
                    span.spacer {}
                    @if let Some(w) = &frame.current {
                        form.search role="search" method="get" action="/admin/search" {
                            input type="hidden" name="workspace" value=(w.slug);
                            label.skip for="top-search" { "Search runs, tenants and objects" }
                            input id="top-search" type="search" name="q" placeholder="Run id, tenant or object";
                            button.link type="submit" { "Search" }
                        }
                    }
                    a.bell href="/admin/notifications" {
                        (icon::svg("bell"))
                        "Notifications"
                        @if frame.unread > 0 {
                            " " span.count data-unread=(frame.unread) { (frame.unread) span.skip { " unread" } }
                        }
                    }
                    span.user { (frame.user_name) }
                    form method="post" action="/logout" {
                        (form::csrf(&frame.csrf))
                        button.link type="submit" { "Log out" }
                    }
                }
                @if let Some(f) = &frame.flash { (flash_line(f)) }
                main id="main" { (body) }
            }
        }
    }
}
