//! A diff a person can read (backups, versions, drift): the counts as
//! figures, added and removed objects by type, and each changed object's
//! settings side by side — the setting (its JSON pointer), before, after —
//! with the changed side highlighted; `unified` shows the same changes as
//! removed/added lines instead. Values are pretty JSON; a member that did not
//! exist reads "(not set)".

use atlas_core::diff::{Change, ObjectSummary, SetDiff};
use atlas_core::object_type;
use maud::{html, Markup};
use serde_json::Value;

/// "Device configurations", or the key of an unregistered type.
pub fn type_label(key: &str) -> String {
    object_type::by_key(key).map_or_else(|| key.to_owned(), |t| t.label.to_owned())
}

fn value(v: Option<&Value>) -> Markup {
    match v {
        None => html! { span.unset { "(not set)" } },
        Some(Value::String(s)) => html! { code { "\"" (s) "\"" } },
        Some(v) => {
            let text = serde_json::to_string_pretty(v).unwrap_or_default();
            if text.contains('\n') {
                html! { pre { (text) } }
            } else {
                html! { code { (text) } }
            }
        }
    }
}

/// What kind of change a line is: a setting added, removed or changed.
fn kind(c: &Change) -> &'static str {
    match (&c.old, &c.new) {
        (None, _) => "added",
        (_, None) => "removed",
        _ => "changed",
    }
}

/// One object's changes, side by side (`unified`: as -/+ lines).
pub fn changes(list: &[Change], unified: bool) -> Markup {
    html! {
        @if list.is_empty() {
            p.sub data-no-changes { "No setting differs." }
        } @else if unified {
            ul.unified aria-label="Changes, unified" {
                @for c in list {
                    li data-change=(kind(c)) {
                        code.path { (c.path) }
                        @if c.old.is_some() { div.del { span.sign aria-label="before" { "−" } (value(c.old.as_ref())) } }
                        @if c.new.is_some() { div.ins { span.sign aria-label="after" { "+" } (value(c.new.as_ref())) } }
                    }
                }
            }
        } @else {
            table.changes {
                thead { tr { th scope="col" { "Setting" } th scope="col" { "Before" } th scope="col" { "After" } } }
                tbody {
                    @for c in list {
                        tr data-change=(kind(c)) {
                            td { code.path { (c.path) } }
                            td.del { (value(c.old.as_ref())) }
                            td.ins { (value(c.new.as_ref())) }
                        }
                    }
                }
            }
        }
    }
}

fn objects(title: &str, list: &[ObjectSummary], marker: &str) -> Markup {
    html! {
        @if !list.is_empty() {
            h2 { (title) " (" (list.len()) ")" }
            ul.objects-list data-diff-list=(marker) {
                @for o in list {
                    li data-object-id=(o.object_id) {
                        span.kind { (type_label(&o.object_type)) } " "
                        strong { (o.name) } " " code { (o.object_id) }
                    }
                }
            }
        }
    }
}

/// The view toggle: the same page, side by side or unified.
pub fn toggle(base: &str, unified: bool) -> Markup {
    let sep = if base.contains('?') { '&' } else { '?' };
    html! {
        p.view-toggle {
            "View: "
            @if unified {
                a href=(base) { "Side by side" } " · " strong aria-current="true" { "Unified" }
            } @else {
                strong aria-current="true" { "Side by side" } " · " a href=(format!("{base}{sep}view=unified")) { "Unified" }
            }
        }
    }
}

/// A set diff: figures, then added, removed and changed objects.
pub fn set(d: &SetDiff, unified: bool) -> Markup {
    html! {
        section.diff data-diff {
            div.figures {
                div.figure data-diff-count="added" { b { (d.added.len()) } span { "added" } }
                div.figure data-diff-count="removed" { b { (d.removed.len()) } span { "removed" } }
                div.figure data-diff-count="changed" { b { (d.changed.len()) } span { "changed" } }
                div.figure data-diff-count="unchanged" { b { (d.unchanged) } span { "unchanged" } }
            }
            @if d.change_count() == 0 { p.sub data-no-changes { "Nothing differs." } }
            (objects("Added", &d.added, "added"))
            (objects("Removed", &d.removed, "removed"))
            @if !d.changed.is_empty() {
                h2 { "Changed (" (d.changed.len()) ")" }
                @for o in &d.changed {
                    details.card.diff-object open data-object-id=(o.object_id) {
                        summary {
                            span.kind { (type_label(&o.object_type)) } " "
                            strong { (o.name) } " " code { (o.object_id) }
                            " · " (o.changes.len()) @if o.changes.len() == 1 { " setting" } @else { " settings" }
                            @if let Some(prev) = &o.previous_object_id { " (was " code { (prev) } ")" }
                        }
                        (changes(&o.changes, unified))
                    }
                }
            }
        }
    }
}
