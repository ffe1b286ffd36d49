//! The sign-in throttle: failed sign-ins counted per (account, client
//! address) with growing delays, and per client address over every account.
//!
//! An attacker's failures for `owner@…` slow down that pair only: the owner
//! signing in from another address is not affected (a per-account lockout
//! would hand the attacker a denial of service). The per-address count stops
//! one address from trying many accounts. Counts live in the database, so all
//! `serve` nodes on one PostgreSQL share them and a restart forgets none (an
//! in-memory limiter such as `governor` would give each node its own).

use std::time::Duration;

use atlas_core::Timestamp;

use crate::{exec, now, on_db, on_tx, Dialect, Store, StoreResult, Tx};

/// How failures turn into waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures of one (account, address) pair before the first delay.
    pub free_failures: u32,
    /// The first delay; each further failure doubles it, up to `max_delay`.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Failures from one address, over all accounts, within `window`.
    pub address_max_failures: u32,
    /// A pair's count starts over after this long without a failure; an
    /// address's count covers a window of this length.
    pub window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> ThrottlePolicy {
        ThrottlePolicy {
            free_failures: 3,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            address_max_failures: 100,
            window: Duration::from_secs(15 * 60),
        }
    }
}

impl ThrottlePolicy {
    /// How long a pair waits after its `failures`-th failure.
    pub fn delay_after(&self, failures: u32) -> Duration {
        if failures <= self.free_failures {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free_failures - 1).min(30);
        self.first_delay.saturating_mul(1 << doublings).min(self.max_delay)
    }
}

const PAIR: &str = "pair";
const ADDRESS: &str = "address";

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn pair_subject(email: &str, address: &str) -> String {
    format!("{email} {address}")
}

#[derive(sqlx::FromRow)]
struct FailureRow {
    failures: i64,
    window_start: i64,
    last_failure_at: i64,
}

impl Store {
    /// How long a sign-in for `email` (normalized) from `address` must wait
    /// before it may be tried; zero when it may be tried now.
    pub async fn sign_in_wait(&self, email: &str, address: &str) -> StoreResult<Duration> {
        let at = now();
        let (until,): (Option<i64>,) = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT MAX(blocked_until) FROM sign_in_failures \
             WHERE (scope = $1 AND subject = $2) OR (scope = $3 AND subject = $4)"
        )
        .bind(PAIR)
        .bind(pair_subject(email, address))
        .bind(ADDRESS)
        .bind(address)
        .fetch_one(p)
        .await)?;
        let wait = until.unwrap_or(0).saturating_sub(at.0);
        Ok(Duration::from_micros(u64::try_from(wait).unwrap_or(0)))
    }

    /// Counts a failed sign-in for the pair and the address; returns how long
    /// the pair must now wait.
    pub async fn sign_in_failed(&self, email: &str, address: &str, policy: &ThrottlePolicy) -> StoreResult<Duration> {
        let at = now();
        let window = micros(policy.window);
        let mut tx = self.begin().await?;
        let pair = self.failure_locked(&mut tx, PAIR, &pair_subject(email, address), at).await?;
        // A pair's count starts over after a quiet window.
        let failures = if pair.last_failure_at < at.0 - window { 1 } else { pair.failures + 1 };
        let delay = policy.delay_after(u32::try_from(failures).unwrap_or(u32::MAX));
        self.failure_write(&mut tx, PAIR, &pair_subject(email, address), failures, pair.window_start, at, delay)
            .await?;
        let addr = self.failure_locked(&mut tx, ADDRESS, address, at).await?;
        let (failures, start) =
            if addr.window_start < at.0 - window { (1, at.0) } else { (addr.failures + 1, addr.window_start) };
        let blocked = if failures >= i64::from(policy.address_max_failures) {
            Duration::from_micros(u64::try_from(start + window - at.0).unwrap_or(0))
        } else {
            Duration::ZERO
        };
        self.failure_write(&mut tx, ADDRESS, address, failures, start, at, blocked).await?;
        tx.commit().await?;
        Ok(delay.max(blocked))
    }

    /// Forgets the pair's failures after a good sign-in (the address's count
    /// stays: one good account must not reset an address trying many).
    pub async fn sign_in_succeeded(&self, email: &str, address: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        exec!(
            &mut tx,
            sqlx::query("DELETE FROM sign_in_failures WHERE scope = $1 AND subject = $2")
                .bind(PAIR)
                .bind(pair_subject(email, address))
        )?;
        tx.commit().await
    }

    /// Removes counts nobody is waiting on any more (older than `window`).
    pub async fn sign_in_failures_purge(&self, window: Duration) -> StoreResult<u64> {
        let at = now();
        let mut tx = self.begin().await?;
        let n = exec!(
            &mut tx,
            sqlx::query("DELETE FROM sign_in_failures WHERE last_failure_at < $1 AND blocked_until < $2")
                .bind(at.0 - micros(window))
                .bind(at.0)
        )?;
        tx.commit().await?;
        Ok(n)
    }

    /// The row of (scope, subject), created empty if missing, locked for the
    /// transaction (PostgreSQL; SQLite's write lock is already held).
    async fn failure_locked(&self, tx: &mut Tx, scope: &str, subject: &str, at: Timestamp) -> StoreResult<FailureRow> {
        exec!(
            tx,
            sqlx::query(
                "INSERT INTO sign_in_failures (scope, subject, failures, window_start, last_failure_at, blocked_until) \
                 VALUES ($1, $2, 0, $3, 0, 0) ON CONFLICT (scope, subject) DO NOTHING"
            )
            .bind(scope)
            .bind(subject)
            .bind(at.0)
        )?;
        let lock = match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        };
        let sql = format!(
            "SELECT failures, window_start, last_failure_at FROM sign_in_failures WHERE scope = $1 AND subject = $2{lock}"
        );
        Ok(on_tx!(tx, |c| sqlx::query_as(&sql).bind(scope).bind(subject).fetch_one(c).await)?)
    }

    #[allow(clippy::too_many_arguments)]
    async fn failure_write(
        &self,
        tx: &mut Tx,
        scope: &str,
        subject: &str,
        failures: i64,
        window_start: i64,
        at: Timestamp,
        wait: Duration,
    ) -> StoreResult<()> {
        exec!(
            tx,
            sqlx::query(
                "UPDATE sign_in_failures SET failures = $1, window_start = $2, last_failure_at = $3, \
                 blocked_until = $4 WHERE scope = $5 AND subject = $6"
            )
            .bind(failures)
            .bind(window_start)
            .bind(at.0)
            .bind(at.0.saturating_add(micros(wait)))
            .bind(scope)
            .bind(subject)
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_the_free_failures_and_double_up_to_the_cap() {
        let p = ThrottlePolicy::default();
        let secs: Vec<u64> = (1..=16).map(|n| p.delay_after(n).as_secs()).collect();
        assert_eq!(secs, [0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]);
        assert_eq!(p.delay_after(u32::MAX), p.max_delay);
    }
}
