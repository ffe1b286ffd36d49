//! API tokens: bearer credentials of a user. Only a hash is stored; the
//! plaintext is returned once, at creation.

use atlas_core::Timestamp;
use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::user::UserRow;
use super::{non_empty, ChangeBy, User};
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
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: String,
    user_id: String,
    name: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
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
        })
    }
}

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
        let name = non_empty("token name", name)?;
        let user = self.user_get(user_id).await?;
        if user.disabled_at.is_some() {
            return Err(StoreError::Invalid(format!("user `{}` is disabled and cannot get a token", user.email)));
        }
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let plaintext = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
        let token = ApiToken {
            id: Uuid::now_v7(),
            user_id,
            name: name.to_owned(),
            created_at: now(),
            last_used_at: None,
            revoked_at: None,
        };
        let mut tx = self.begin().await?;
        exec!(
            &mut tx,
            sqlx::query(
                "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)"
            )
            .bind(token.id.to_string())
            .bind(user_id.to_string())
            .bind(&token.name)
            .bind(hash_token(&plaintext))
            .bind(token.created_at.0)
        )?;
        let draft = by.draft(
            "token.created",
            None,
            None,
            format!("token:{}", token.id),
            json!({"user_id": user_id, "after": {"name": token.name}}),
        );
        append(&mut tx, &draft, token.created_at).await?;
        tx.commit().await?;
        Ok((token, plaintext))
    }

    /// The user a bearer token belongs to, if the token is known, not revoked,
    /// and its user not disabled. Refreshes the token's `last_used_at`.
    pub async fn token_authenticate(&self, plaintext: &str) -> StoreResult<Option<User>> {
        if !plaintext.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let row: Option<(String, String)> = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT t.id, t.user_id FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL"
        )
        .bind(hash_token(plaintext))
        .fetch_optional(p)
        .await)?;
        let Some((token_id, user_id)) = row else {
            return Ok(None);
        };
        let at = now();
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
        let rows: Vec<TokenRow> = on_db!(self.db(), |p| sqlx::query_as(
            "SELECT id, user_id, name, created_at, last_used_at, revoked_at FROM api_tokens \
             WHERE user_id = $1 ORDER BY created_at, id"
        )
        .bind(user_id.to_string())
        .fetch_all(p)
        .await)?;
        rows.into_iter().map(TokenRow::into_domain).collect()
    }
}
