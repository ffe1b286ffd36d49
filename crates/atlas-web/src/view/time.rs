//! Timestamps: always a `<time datetime>` with the exact UTC time in its
//! title; the script renders it in local time (or relative) on the client.

use atlas_core::Timestamp;
use maud::{html, Markup};

/// "2026-11-26 10:15:02 UTC".
pub fn utc(t: Timestamp) -> String {
    let dt = t.to_offset_date_time();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// An absolute time.
pub fn at(t: Timestamp) -> Markup {
    html! { time datetime=(t.to_rfc3339()) title=(utc(t)) { (utc(t)) } }
}

/// An optional time, `—` when absent.
pub fn maybe(t: Option<Timestamp>) -> Markup {
    match t {
        Some(t) => at(t),
        None => html! { span aria-label="none" { "—" } },
    }
}

/// "3 min ago", with the exact time in the title.
pub fn ago(t: Timestamp, now: Timestamp) -> Markup {
    html! { time datetime=(t.to_rfc3339()) title=(utc(t)) data-relative { (relative(t, now)) } }
}

pub fn relative(t: Timestamp, now: Timestamp) -> String {
    let s = (now.micros() - t.micros()) / 1_000_000;
    match s {
        i64::MIN..=4 => "just now".into(),
        5..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", (s + 30) / 60),
        3600..=172_799 => format!("{} h ago", (s + 1800) / 3600),
        _ => format!("{} days ago", (s + 43_200) / 86_400),
    }
}

/// A duration in words: "850 ms", "12 s", "3 min 4 s", "2 h 5 min".
pub fn duration(from: Timestamp, to: Timestamp) -> String {
    let ms = ((to.micros() - from.micros()) / 1000).max(0);
    match ms {
        0..=999 => format!("{ms} ms"),
        1000..=59_999 => format!("{} s", ms / 1000),
        60_000..=3_599_999 => format!("{} min {} s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{} h {} min", ms / 3_600_000, (ms / 60_000) % 60),
    }
}
