//! A schedule's cron expression in words ("At 02:00 AM"), from `cronspeak`;
//! the expression itself when it cannot say it.

pub fn describe(expr: &str) -> String {
    cronspeak::describe(expr).unwrap_or_else(|_| format!("cron `{expr}`"))
}
