//! Assignments, per the registry's assignment mode: `/assign` replaces the
//! whole set in one action; a plain `assignments` collection is brought to
//! the same end state item by item.

use atlas_core::object_type::Assignments;
use reqwest::Method;
use serde_json::{Map, Value};

use super::client::{segment, GraphClient, Repeat};
use crate::{Kind, ProviderError};

/// Members of a listed assignment that Graph sets itself; a write carries
/// the assignment's type, target and settings only.
const ASSIGNMENT_READ_ONLY: &[&str] = &["id", "source", "sourceId", "intent", "@odata.context"];

fn not_assignable(kind: Kind) -> ProviderError {
    ProviderError::Other(format!("{} objects have no assignments", kind.key))
}

/// An assignment as a write sends it.
fn write_shape(a: &Value, item_type: &str) -> Result<Map<String, Value>, ProviderError> {
    let mut a = match a {
        Value::Object(m) if m.get("target").is_some_and(Value::is_object) => m.clone(),
        _ => return Err(ProviderError::Other("an assignment must be an object with a target".into())),
    };
    for m in ASSIGNMENT_READ_ONLY {
        a.remove(*m);
    }
    a.entry("@odata.type").or_insert_with(|| Value::String(item_type.into()));
    Ok(a)
}

impl GraphClient {
    pub(crate) async fn list_assignments(&self, kind: Kind, id: &str) -> Result<Vec<Value>, ProviderError> {
        if !kind.assignable() {
            return Ok(Vec::new());
        }
        let mut last = None;
        for c in kind.collections {
            match self.collect(&self.assignments_url(c, id, "assignments")).await {
                Err(ProviderError::NotFound(why)) => last = Some(why),
                other => return other,
            }
        }
        Err(ProviderError::NotFound(last.unwrap_or_else(|| format!("{} {id}", kind.key))))
    }

    /// Replaces the object's assignments with `assignments`.
    pub(crate) async fn set_assignments(
        &self,
        kind: Kind,
        id: &str,
        assignments: &[Value],
    ) -> Result<(), ProviderError> {
        match kind.assignments {
            Assignments::None => Err(not_assignable(kind)),
            Assignments::AssignAction { body_key, item_type } => {
                let items = assignments.iter().map(|a| write_shape(a, item_type).map(Value::Object)).collect::<Result<
                    Vec<_>,
                    _,
                >>(
                )?;
                let mut body = Map::new();
                body.insert(body_key.into(), Value::Array(items));
                let body = Value::Object(body);
                let mut last = None;
                for c in kind.collections {
                    match self.request(Method::POST, &self.assignments_url(c, id, "assign"), Some(&body)).await {
                        Ok(_) => return Ok(()),
                        Err(ProviderError::NotFound(why)) => last = Some(why),
                        Err(e) => return Err(e),
                    }
                }
                Err(ProviderError::NotFound(last.unwrap_or_else(|| format!("{} {id}", kind.key))))
            }
            Assignments::Collection { item_type } => {
                let wanted = assignments.iter().map(|a| write_shape(a, item_type)).collect::<Result<Vec<_>, _>>()?;
                let Some(c) = kind.collections.first() else { return Err(not_assignable(kind)) };
                let live = self.list_assignments(kind, id).await?;
                let target = |a: &Value| a.get("target").cloned();
                // Those no longer wanted go; those missing are added.
                for have in &live {
                    if !wanted.iter().any(|w| w.get("target") == have.get("target").as_ref().copied()) {
                        let aid = have.get("id").and_then(Value::as_str).unwrap_or_default();
                        let url = self.assignments_url(c, id, &format!("assignments/{}", segment(aid)));
                        self.request(Method::DELETE, &url, None).await?;
                    }
                }
                for want in wanted {
                    if !live.iter().any(|have| target(have).as_ref() == want.get("target")) {
                        let url = self.assignments_url(c, id, "assignments");
                        self.send(Method::POST, &url, Some(&Value::Object(want)), Repeat::OnlyIfUnapplied).await?;
                    }
                }
                Ok(())
            }
        }
    }
}
