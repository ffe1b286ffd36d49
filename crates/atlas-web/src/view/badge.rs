//! Badges from the one mapping in `atlas_core::badge`: text always, color and
//! icon as reinforcement, and a `data-status` / `data-outcome` attribute.

use atlas_core::badge::{outcome_badge, run_status_badge, Badge};
use atlas_core::run::{Run, RunOutcome};
use maud::{html, Markup};

use super::icon;

fn render(kind: &str, b: Badge) -> Markup {
    let class = format!("badge badge-{}", b.color);
    html! {
        @if kind == "status" {
            span class=(class) data-status=(b.value) { (icon::svg(b.icon)) (b.label) }
        } @else {
            span class=(class) data-outcome=(b.value) { (icon::svg(b.icon)) (b.label) }
        }
    }
}

pub fn outcome(o: RunOutcome) -> Markup {
    render("outcome", outcome_badge(o))
}

/// A run's status as displayed: "Awaiting approval" for a queued run whose approval is pending.
pub fn run_status(run: &Run) -> Markup {
    render("status", run_status_badge(run.status, run.approval.as_ref()))
}
