//! API tokens: bearer credentials of a user. Only a hash is stored; the
//! plaintext is returned once, at creation. A token may expire; revoking one
//! (or disabling its user) ends it at once. Creation and revocation are audited.

use atlas_core::Timestamp;
use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::user::UserRow;
use atlas_core::value::TokenName;

use super::{valid, ChangeBy, User};
use crate::audit::append;
use crate::row::uuid;
use crate::{exec, now, on_db, Store, StoreError, StoreResult};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// `None`: never expires.
    pub expires_at: Option<Timestamp>,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: String,
    user_id: String,
    name: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    expires_at: Option<i64>,
}

impl TokenRow {
    fn into_domain(self) -> StoreResult<ApiToken> {
        Ok(ApiToken {
            id: uuid(&self.id)?,
            user_id: uuid(&self.user_id)?,
            name: self.name,
            created_at: Timestamp(self.created_at),
            last_used_at: self.last_used_at.map(Timestamp),
            revoked_at: self.revoked_at.map(Timestamp),
            expires_at: self.expires_at.map(Timestamp),
        })
    }
}

const TOKEN_SELECT: &str = "SELECT id, user_id, name, created_at, last_used_at, revoked_at, expires_at FROM api_tokens";

/// The prefix of every token, so that a leaked one is recognizable.
const TOKEN_PREFIX: &str = "atl_";

/// `last_used_at` is refreshed at most this often, so that authenticating is
/// not a write per request.
const LAST_USED_GRANULARITY_MICROS: i64 = 60 * 1_000_000;

/// A token's stored form: tokens are random, so a plain SHA-256 is enough.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// Creates an API token for an enabled user; returns it with its plaintext,
    /// which is not stored and cannot be shown again.
    pub async fn token_create(&self, user_id: Uuid, name: &str, by: &ChangeBy) -> StoreResult<(ApiToken, String)> {
        self.token_create_expiring(user_id, name, None, by).await
    }

    /// `token_create` with a lifetime: the token answers 401 from `created_at + lifetime` on.
    pub async fn token_create_expiring(
        &self,
        user_id: Uuid,
        name: &str,
        lifetime: Option<std::time::Duration>,
        by: &ChangeBy,
    ) -> StoreResult<(ApiToken, String)> {
        let name = valid(TokenName::parse(name))?.into_string();
        let user = self.user_get(user_id).await?;
        if user.disabled_at.is_some() {
            return Err(StoreError::Invalid(format!("user `{}` is disabled and cannot get a token", user.email)));
        }
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let plaintext = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
        let created_at = now();
        let expires_at =
            lifetime.map(|l| Timestamp(created_at.0.saturating_add(i64::try_from(l.as_micros()).unwrap_or(i64::MAX))));
        let token = ApiToken {
            id: Uuid::now_v7(),
            user_id,
            name,
            created_at,
            last_used_at: None,
            revoked_at: None,
            expires_at,
        };
        let mut tx = self.begin().await?;
        exec!(
            &mut tx,
            sqlx::query(
                "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            )
            .bind(token.id.to_string())
            .bind(user_id.to_string())
            .bind(&token.name)
            .bind(hash_token(&plaintext))
            .bind(token.created_at.0)
            .bind(token.expires_at.map(|t| t.0))
        )?;
        let draft = by.draft(
            "token.created",
            None,
            None,
            format!("token:{}", token.id),
            json!({"user_id": user_id, "after": {"name": token.name, "expires_at": token.expires_at}}),
        );
        append(&mut tx, &draft, token.created_at).await?;
        tx.commit().await?;
        Ok((token, plaintext))
    }

    /// The user a bearer token belongs to, if the token is known, neither
    /// revoked nor expired, and its user not disabled. Refreshes the token's
    /// `last_used_at`.
    pub async fn token_authenticate(&self, plaintext: &str) -> StoreResult<Option<User>> {
        if !plaintext.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let at = now();
        let row: Option<(String, String)> = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT t.id, t.user_id FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL \
             AND (t.expires_at IS NULL OR t.expires_at > $2)"
        )
        .bind(hash_token(plaintext))
        .bind(at.0)
        .fetch_optional(p)
        .await)?;
        let Some((token_id, user_id)) = row else {
            return Ok(None);
        };
        on_db!(self.db(), |p| {
            sqlx::query(
                "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
            )
            .bind(at.0)
            .bind(&token_id)
            .bind(at.0 - LAST_USED_GRANULARITY_MICROS)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        let user: Option<UserRow> = on_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT id, email, display_name, disabled_at, created_at FROM users WHERE id = $1 AND disabled_at IS NULL"
        )
        .bind(&user_id)
        .fetch_optional(p)
        .await
        })?;
        user.map(UserRow::into_domain).transpose()
    }

    /// A user's tokens (never their secrets), oldest first.
    pub async fn token_list(&self, user_id: Uuid) -> StoreResult<Vec<ApiToken>> {
        let sql = format!("{TOKEN_SELECT} WHERE user_id = $1 ORDER BY created_at, id");
        let rows: Vec<TokenRow> =
            on_db!(self.db(), |p| sqlx::query_as(&sql).bind(user_id.to_string()).fetch_all(p).await)?;
        rows.into_iter().map(TokenRow::into_domain).collect()
    }

    pub async fn token_get(&self, id: Uuid) -> StoreResult<ApiToken> {
        let sql = format!("{TOKEN_SELECT} WHERE id = $1");
        let row: Option<TokenRow> =
            on_db!(self.db(), |p| sqlx::query_as(&sql).bind(id.to_string()).fetch_optional(p).await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("token {id}")))?.into_domain()
    }

    /// Revokes a token: from now on it answers 401. `owner` limits it to one
    /// user's tokens (a person revoking their own; another's is not found).
    /// Revoking twice returns the token as it is, without a second event.
    pub async fn token_revoke(&self, id: Uuid, owner: Option<Uuid>, by: &ChangeBy) -> StoreResult<ApiToken> {
        let token = self.token_get(id).await?;
        if owner.is_some_and(|o| o != token.user_id) {
            return Err(StoreError::NotFound(format!("token {id}")));
        }
        if token.revoked_at.is_some() {
            return Ok(token);
        }
        let at = now();
        let mut tx = self.begin().await?;
        // Guarded so that two concurrent revocations write one event.
        let changed = exec!(
            &mut tx,
            sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(at.0)
                .bind(id.to_string())
        )?;
        if changed == 0 {
            drop(tx);
            return self.token_get(id).await;
        }
        let draft = by.draft(
            "token.revoked",
            None,
            None,
            format!("token:{id}"),
            json!({"user_id": token.user_id, "name": token.name, "before": {"revoked": false}, "after": {"revoked": true}}),
        );
        append(&mut tx, &draft, at).await?;
        tx.commit().await?;
        Ok(ApiToken { revoked_at: Some(at), ..token })
    }
}
