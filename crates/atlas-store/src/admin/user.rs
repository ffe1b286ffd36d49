//! Users: identities with an optional argon2 password; disabling one revokes
//! its tokens and, through the gate, its queued runs.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use atlas_core::Timestamp;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::{non_empty, ChangeBy};
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

const USER_SELECT: &str = "SELECT id, email, display_name, disabled_at, created_at FROM users";

/// Emails are compared case-insensitively; stored lower-case.
pub fn normalize_email(email: &str) -> Result<String, StoreError> {
    let e = email.trim().to_lowercase();
    let valid = match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e.chars().any(|c| c.is_whitespace() || c == ',')
                && e.matches('@').count() == 1
        }
        None => false,
    };
    if valid {
        Ok(e)
    } else {
        Err(StoreError::Invalid(format!("`{email}` is not a valid email address")))
    }
}

fn hash_password(password: &str) -> StoreResult<String> {
    if password.is_empty() {
        return Err(StoreError::Invalid("password must not be empty".into()));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("cannot hash password: {e}")))
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
        let display_name = non_empty("name", display_name)?;
        let hash = password.map(hash_password).transpose()?;
        let user =
            User { id: Uuid::now_v7(), email, display_name: display_name.into(), disabled_at: None, created_at: now() };
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
        let email_norm = email.trim().to_lowercase();
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
    /// or a wrong password, so callers cannot tell which.
    pub async fn user_verify_password(&self, email: &str, password: &str) -> StoreResult<Option<User>> {
        let email_norm = email.trim().to_lowercase();
        let row: Option<(String, Option<String>)> = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT id, password_hash FROM users WHERE email = $1 AND disabled_at IS NULL"
        )
        .bind(&email_norm)
        .fetch_optional(p)
        .await)?;
        let Some((id, Some(stored))) = row else {
            return Ok(None);
        };
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return Ok(None);
        };
        if Argon2::default().verify_password(password.as_bytes(), &parsed).is_err() {
            return Ok(None);
        }
        Ok(Some(self.user_get(uuid(&id)?).await?))
    }

    /// Sets a user's password (the first owner's one-time password, the demo
    /// logins). Audited without the password, of course.
    pub async fn user_set_password(&self, email: &str, password: &str, by: &ChangeBy) -> StoreResult<User> {
        if password.chars().count() < 8 {
            return Err(StoreError::Invalid("a password needs at least 8 characters".into()));
        }
        let user = self.user_by_email(email).await?;
        let hash = hash_password(password)?;
        let at = now();
        let mut tx = self.begin().await?;
        exec!(
            &mut tx,
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2").bind(hash).bind(user.id.to_string())
        )?;
        let draft =
            by.draft("user.password_set", None, None, format!("user:{}", user.id), json!({"email": user.email}));
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        Ok(user)
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
