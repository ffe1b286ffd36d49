//! Users: identities with an optional argon2 password; disabling one revokes
//! its tokens and, through the gate, its queued runs.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use atlas_core::Timestamp;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use atlas_core::value::{DisplayName, Email, Password};

use super::{valid, ChangeBy};
use crate::audit::append;
use crate::row::uuid;
use crate::{exec, now, on_db, Store, StoreError, StoreResult};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub disabled_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    id: String,
    email: String,
    display_name: String,
    disabled_at: Option<i64>,
    created_at: i64,
}

impl UserRow {
    pub(super) fn into_domain(self) -> StoreResult<User> {
        Ok(User {
            id: uuid(&self.id)?,
            email: self.email,
            display_name: self.display_name,
            disabled_at: self.disabled_at.map(Timestamp),
            created_at: Timestamp(self.created_at),
        })
    }
}

/// Whether a password was chosen by its user or generated for one sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordKind {
    Chosen,
    OneTime,
}

/// A password people can type from a terminal: 16 letters and digits.
pub fn generate_password() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, 16)
}

const USER_SELECT: &str = "SELECT id, email, display_name, disabled_at, created_at FROM users";

/// Emails are compared case-insensitively; stored lower-case (`atlas_core::value::Email`).
pub fn normalize_email(email: &str) -> Result<String, StoreError> {
    valid(Email::parse(email)).map(Email::into_string)
}

fn hash_password(password: &Password) -> StoreResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("cannot hash password: {e}")))
}

/// A hash of a password nobody has, checked when the email is unknown (or has
/// no password, or is disabled) so that a sign-in takes as long either way.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"no account has this password", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

impl Store {
    pub async fn user_create(
        &self,
        email: &str,
        display_name: &str,
        password: Option<&str>,
        by: &ChangeBy,
    ) -> StoreResult<User> {
        let email = normalize_email(email)?;
        let display_name = valid(DisplayName::parse(display_name))?.into_string();
        let password = password.map(|p| valid(Password::parse(p))).transpose()?;
        let hash = password.as_ref().map(hash_password).transpose()?;
        let user = User { id: Uuid::now_v7(), email, display_name, disabled_at: None, created_at: now() };
        let mut tx = self.begin().await?;
        exec!(
            &mut tx,
            sqlx::query(
                "INSERT INTO users (id, email, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)"
            )
            .bind(user.id.to_string())
            .bind(&user.email)
            .bind(&user.display_name)
            .bind(hash)
            .bind(user.created_at.0)
        )?;
        let draft = by.draft(
            "user.created",
            None,
            None,
            format!("user:{}", user.id),
            json!({"after": {"email": user.email, "display_name": user.display_name}}),
        );
        append(&mut tx, &draft, user.created_at).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn user_by_email(&self, email: &str) -> StoreResult<User> {
        let email_norm = normalize_email(email)?;
        let sql = format!("{USER_SELECT} WHERE email = $1");
        let row: Option<UserRow> =
            on_db!(self.db(), |p| sqlx::query_as(&sql).bind(&email_norm).fetch_optional(p).await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("user `{email}`")))?.into_domain()
    }

    pub async fn user_get(&self, id: Uuid) -> StoreResult<User> {
        let sql = format!("{USER_SELECT} WHERE id = $1");
        let row: Option<UserRow> =
            on_db!(self.db(), |p| sqlx::query_as(&sql).bind(id.to_string()).fetch_optional(p).await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("user {id}")))?.into_domain()
    }

    /// Every user, by email.
    pub async fn user_list(&self) -> StoreResult<Vec<User>> {
        let sql = format!("{USER_SELECT} ORDER BY email");
        let rows: Vec<UserRow> = on_db!(self.db(), |p| sqlx::query_as(&sql).fetch_all(p).await)?;
        rows.into_iter().map(UserRow::into_domain).collect()
    }

    /// Checks a password; `None` for an unknown, password-less or disabled user
    /// or a wrong password, so callers cannot tell which — not by the answer,
    /// nor by its time: without a stored hash a dummy one is checked.
    pub async fn user_verify_password(&self, email: &str, password: &str) -> StoreResult<Option<User>> {
        let row: Option<(String, Option<String>)> = match normalize_email(email) {
            Ok(email_norm) => on_db!(self.db(), |p| sqlx::query_as(
                "SELECT id, password_hash FROM users WHERE email = $1 AND disabled_at IS NULL"
            )
            .bind(&email_norm)
            .fetch_optional(p)
            .await)?,
            Err(_) => None,
        };
        // Hashing is CPU work that would stall the runtime's thread for ~20 ms.
        let password = password.to_owned();
        let (id, stored) = match row {
            Some((id, Some(stored))) => (Some(id), stored),
            _ => (None, dummy_hash().to_owned()),
        };
        let matched = tokio::task::spawn_blocking(move || verify(&password, &stored)).await.unwrap_or(false);
        match id {
            Some(id) if matched => Ok(Some(self.user_get(uuid(&id)?).await?)),
            _ => Ok(None),
        }
    }

    /// Sets a password someone chose (the demo logins, `users set-password
    /// --password`, the console's "Change password"). Audited without the
    /// password, of course.
    pub async fn user_set_password(&self, email: &str, password: &str, by: &ChangeBy) -> StoreResult<User> {
        self.user_write_password(email, password, PasswordKind::Chosen, by).await
    }

    /// Sets a password, chosen or one-time (a generated one that the console
    /// asks to replace at the first sign-in).
    pub async fn user_write_password(
        &self,
        email: &str,
        password: &str,
        kind: PasswordKind,
        by: &ChangeBy,
    ) -> StoreResult<User> {
        let password = valid(Password::parse(password))?;
        let user = self.user_by_email(email).await?;
        let hash = hash_password(&password)?;
        let one_time = kind == PasswordKind::OneTime;
        let at = now();
        let mut tx = self.begin().await?;
        exec!(
            &mut tx,
            sqlx::query("UPDATE users SET password_hash = $1, password_change_required = $2 WHERE id = $3")
                .bind(hash)
                .bind(i64::from(one_time))
                .bind(user.id.to_string())
        )?;
        let draft = by.draft(
            "user.password_set",
            None,
            None,
            format!("user:{}", user.id),
            json!({"email": user.email, "one_time": one_time}),
        );
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Whether the user signed in with a one-time password not yet replaced.
    pub async fn user_password_change_required(&self, user_id: Uuid) -> StoreResult<bool> {
        let row: Option<(i64,)> =
            on_db!(self.db(), |p| sqlx::query_as("SELECT password_change_required FROM users WHERE id = $1")
                .bind(user_id.to_string())
                .fetch_optional(p)
                .await)?;
        Ok(row.is_some_and(|(r,)| r != 0))
    }

    /// Disables a user: from now on the gate refuses their queued runs, and their
    /// tokens stop working. Disabling twice is a no-op without a second event.
    pub async fn user_disable(&self, email: &str, by: &ChangeBy) -> StoreResult<User> {
        let user = self.user_by_email(email).await?;
        if user.disabled_at.is_some() {
            return Ok(user);
        }
        let at = now();
        let mut tx = self.begin().await?;
        // Guarded by `disabled_at IS NULL` so that two concurrent disables write one event.
        let changed = exec!(
            &mut tx,
            sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL")
                .bind(at.0)
                .bind(user.id.to_string())
        )?;
        if changed == 0 {
            drop(tx);
            return self.user_get(user.id).await;
        }
        exec!(
            &mut tx,
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                .bind(at.0)
                .bind(user.id.to_string())
        )?;
        let draft = by.draft(
            "user.disabled",
            None,
            None,
            format!("user:{}", user.id),
            json!({"email": user.email, "before": {"disabled": false}, "after": {"disabled": true}}),
        );
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        Ok(User { disabled_at: Some(at), ..user })
    }
}
