//! Notifications: exactly one `operation_run_completed` per (user, run, kind).
