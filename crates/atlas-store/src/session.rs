//! Console sessions and sign-in throttling.
//!
//! A session is a row keyed by the SHA-256 of a random id that only the
//! browser's cookie holds. Reading a session joins its user and refuses a
//! disabled one, so disabling a user ends their sessions on the next request.
//! A session slides: it expires `idle` after it was last seen, and
//! `last_seen_at` is refreshed at most once a minute so that reading a session
//! is not a write per request.
//!
//! Throttling failed sign-ins lives beside this, in `throttle.rs`.

use std::time::Duration;

use atlas_core::Timestamp;
use rand::RngCore;
use uuid::Uuid;

use crate::admin::{hash_token, User};
use crate::row::{opt_uuid, uuid};
use crate::{exec, now, on_db, Store, StoreResult};

/// `last_seen_at` (and the sliding expiry) is refreshed at most this often.
const TOUCH_GRANULARITY_MICROS: i64 = 60 * 1_000_000;

/// A live session and its user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebSession {
    /// The stored key (the SHA-256 of the cookie's id), for later updates.
    pub id_hash: String,
    pub user: User,
    pub csrf_token: String,
    /// The workspace the person last switched to, if any.
    pub workspace_id: Option<Uuid>,
    /// A one-time message for the next page (the console's flash line).
    pub flash: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id_hash: String,
    csrf_token: String,
    workspace_id: Option<String>,
    flash: Option<String>,
    created_at: i64,
    expires_at: i64,
    last_seen_at: i64,
    user_id: String,
    email: String,
    display_name: String,
    user_created_at: i64,
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Store {
    /// Starts a session for an enabled user; returns the cookie's id (shown
    /// once, never stored) and the session.
    pub async fn session_create(&self, user_id: Uuid, idle: Duration) -> StoreResult<(String, WebSession)> {
        let user = self.user_get(user_id).await?;
        if user.disabled_at.is_some() {
            return Err(crate::StoreError::Invalid(format!("user `{}` is disabled", user.email)));
        }
        let plaintext = random_hex();
        let at = now();
        let session = WebSession {
            id_hash: hash_token(&plaintext),
            user,
            csrf_token: random_hex(),
            workspace_id: None,
            flash: None,
            created_at: at,
            expires_at: Timestamp(at.0.saturating_add(micros(idle))),
        };
        let mut tx = self.begin().await?;
        exec!(
            &mut tx,
            sqlx::query(
                "INSERT INTO web_sessions (id_hash, user_id, csrf_token, workspace_id, flash, created_at, expires_at, \
                 last_seen_at) VALUES ($1, $2, $3, NULL, NULL, $4, $5, $4)"
            )
            .bind(&session.id_hash)
            .bind(user_id.to_string())
            .bind(&session.csrf_token)
            .bind(at.0)
            .bind(session.expires_at.0)
        )?;
        tx.commit().await?;
        Ok((plaintext, session))
    }

    /// The live session behind a cookie's id: not expired, and its user not
    /// disabled. Slides the expiry by `idle` (at most once a minute).
    pub async fn session_get(&self, plaintext: &str, idle: Duration) -> StoreResult<Option<WebSession>> {
        let at = now();
        let row: Option<SessionRow> = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT s.id_hash, s.csrf_token, s.workspace_id, s.flash, s.created_at, s.expires_at, s.last_seen_at, \
             u.id AS user_id, u.email, u.display_name, u.created_at AS user_created_at \
             FROM web_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL"
        )
        .bind(hash_token(plaintext))
        .bind(at.0)
        .fetch_optional(p)
        .await)?;
        let Some(row) = row else { return Ok(None) };
        let mut expires_at = row.expires_at;
        if row.last_seen_at < at.0 - TOUCH_GRANULARITY_MICROS {
            expires_at = at.0.saturating_add(micros(idle));
            on_db!(self.db(), |p| sqlx::query(
                "UPDATE web_sessions SET last_seen_at = $1, expires_at = $2 WHERE id_hash = $3"
            )
            .bind(at.0)
            .bind(expires_at)
            .bind(&row.id_hash)
            .execute(p)
            .await
            .map(|_| ()))?;
        }
        Ok(Some(WebSession {
            user: User {
                id: uuid(&row.user_id)?,
                email: row.email,
                display_name: row.display_name,
                disabled_at: None,
                created_at: Timestamp(row.user_created_at),
            },
            id_hash: row.id_hash,
            csrf_token: row.csrf_token,
            workspace_id: opt_uuid(row.workspace_id.as_deref())?,
            flash: row.flash,
            created_at: Timestamp(row.created_at),
            expires_at: Timestamp(expires_at),
        }))
    }

    /// Ends a session (logout).
    pub async fn session_delete(&self, id_hash: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        exec!(&mut tx, sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1").bind(id_hash))?;
        tx.commit().await
    }

    /// Ends every session of a user.
    pub async fn sessions_delete_for_user(&self, user_id: Uuid) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let n = exec!(&mut tx, sqlx::query("DELETE FROM web_sessions WHERE user_id = $1").bind(user_id.to_string()))?;
        tx.commit().await?;
        Ok(n)
    }

    /// Removes expired sessions; returns how many.
    pub async fn sessions_purge_expired(&self) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let n = exec!(&mut tx, sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1").bind(now().0))?;
        tx.commit().await?;
        Ok(n)
    }

    /// Remembers the workspace a person switched to.
    pub async fn session_set_workspace(&self, id_hash: &str, workspace_id: Uuid) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        exec!(
            &mut tx,
            sqlx::query("UPDATE web_sessions SET workspace_id = $1 WHERE id_hash = $2")
                .bind(workspace_id.to_string())
                .bind(id_hash)
        )?;
        tx.commit().await
    }

    /// Sets (or, with `None`, clears) the message shown on the next page.
    pub async fn session_set_flash(&self, id_hash: &str, flash: Option<&str>) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        exec!(&mut tx, sqlx::query("UPDATE web_sessions SET flash = $1 WHERE id_hash = $2").bind(flash).bind(id_hash))?;
        tx.commit().await
    }
}
