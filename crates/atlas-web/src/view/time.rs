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

/// "3 min ago", or "in 3 min" for a time to come (the script's words too).
pub fn relative(t: Timestamp, now: Timestamp) -> String {
    let ago = (now.micros() - t.micros()) / 1_000_000;
    let s = ago.saturating_abs();
    let span = match s {
        0..=4 => return "just now".into(),
        5..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", (s + 30) / 60),
        3600..=172_799 => format!("{} h", (s + 1800) / 3600),
        _ => format!("{} days", (s + 43_200) / 86_400),
    };
    if ago < 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_both_ways() {
        let now = Timestamp(10_000_000_000_000);
        let at = |secs: i64| Timestamp(now.micros() + secs * 1_000_000);
        assert_eq!(relative(at(-2), now), "just now");
        assert_eq!(relative(at(-42), now), "42 s ago");
        assert_eq!(relative(at(-180), now), "3 min ago");
        assert_eq!(relative(at(-7200), now), "2 h ago");
        assert_eq!(relative(at(-3 * 86_400), now), "3 days ago");
        assert_eq!(relative(at(180), now), "in 3 min");
        assert_eq!(relative(at(13 * 3600), now), "in 13 h");
        assert!(relative(at(i64::MIN / 2_000_000), now).ends_with(" days ago"));
    }
}
