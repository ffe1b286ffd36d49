//! Workspaces: the unit of isolation.

use atlas_core::Timestamp;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use atlas_core::value::{Slug, WorkspaceName};

use super::{valid, ChangeBy};
use crate::audit::append;
use crate::row::uuid;
use crate::{exec, now, on_db, Store, StoreError, StoreResult};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Workspace {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct WorkspaceRow {
    id: String,
    slug: String,
    name: String,
    created_at: i64,
}

impl WorkspaceRow {
    fn into_domain(self) -> StoreResult<Workspace> {
        Ok(Workspace { id: uuid(&self.id)?, slug: self.slug, name: self.name, created_at: Timestamp(self.created_at) })
    }
}

const WORKSPACE_SELECT: &str = "SELECT id, slug, name, created_at FROM workspaces";

impl Store {
    pub async fn workspace_create(&self, slug: &str, name: &str, by: &ChangeBy) -> StoreResult<Workspace> {
        let slug = valid(Slug::parse(slug))?.into_string();
        let name = valid(WorkspaceName::parse(name))?.into_string();
        let ws = Workspace { id: Uuid::now_v7(), slug, name, created_at: now() };
        let mut tx = self.begin().await?;
        exec!(
            &mut tx,
            sqlx::query("INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)")
                .bind(ws.id.to_string())
                .bind(&ws.slug)
                .bind(&ws.name)
                .bind(ws.created_at.0)
        )?;
        let draft = by.draft(
            "workspace.created",
            Some(ws.id),
            None,
            format!("workspace:{}", ws.id),
            json!({"after": {"slug": ws.slug, "name": ws.name}}),
        );
        append(&mut tx, &draft, ws.created_at).await?;
        tx.commit().await?;
        Ok(ws)
    }

    pub async fn workspace_by_slug(&self, slug: &str) -> StoreResult<Workspace> {
        valid(Slug::parse(slug))?;
        let sql = format!("{WORKSPACE_SELECT} WHERE slug = $1");
        let row: Option<WorkspaceRow> = on_db!(self.db(), |p| sqlx::query_as(&sql).bind(slug).fetch_optional(p).await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("workspace `{slug}`")))?.into_domain()
    }

    pub async fn workspace_get(&self, id: Uuid) -> StoreResult<Workspace> {
        let sql = format!("{WORKSPACE_SELECT} WHERE id = $1");
        let row: Option<WorkspaceRow> =
            on_db!(self.db(), |p| sqlx::query_as(&sql).bind(id.to_string()).fetch_optional(p).await)?;
        row.ok_or_else(|| StoreError::NotFound(format!("workspace {id}")))?.into_domain()
    }

    pub async fn workspace_list(&self) -> StoreResult<Vec<Workspace>> {
        let sql = format!("{WORKSPACE_SELECT} ORDER BY slug");
        let rows: Vec<WorkspaceRow> = on_db!(self.db(), |p| sqlx::query_as(&sql).fetch_all(p).await)?;
        rows.into_iter().map(WorkspaceRow::into_domain).collect()
    }
}
