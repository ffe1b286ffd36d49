//! The OpenAPI 3.1 document of `/api/v1`, built from the route table (so it
//! lists every endpoint there is); the request bodies' field schemas come
//! from the value types and registries the handlers parse with (their
//! `utoipa` schemas in `atlas_core`), so lengths, patterns and enums match
//! what the server checks. The body objects around them are still written
//! here, closed as the handlers close them.

use atlas_core::tenant::{ConnectionKind, TenantStatus};
use atlas_core::value::{
    ClientId, ClientSecret, CronExpr, Email, Guid, Lifetime, RoleName, TenantName, TimeZone, TokenName,
};
use atlas_core::{Capability, OperationType};
use axum::Json;
use serde_json::{json, Map, Value};
use utoipa::PartialSchema;

use crate::routes::{routes, Scope, Surface};

/// The JSON schema of a value type, from the rules in `atlas_core::value`
/// and the registries (their `utoipa` schemas), so the document states the
/// limits, patterns and enums the server checks.
fn schema<T: PartialSchema>() -> Value {
    serde_json::to_value(T::schema()).unwrap_or_default()
}

/// A closed object (every body is `deny_unknown_fields`).
fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "additionalProperties": false, "properties": properties})
}

fn request_body(method: &str, path: &str) -> Option<Value> {
    let caps = json!({"type": "array", "items": schema::<Capability>(), "uniqueItems": true});
    let scope = json!({"$ref": "#/components/schemas/Scope"});
    let body = match (method, path) {
        ("post", "/api/v1/tenants/{tenant}/operations") | ("post", "/api/v1/workspaces/{workspace}/operations") => {
            json!({"$ref": "#/components/schemas/StartOperation"})
        }
        ("post", p) if p.ends_with("/approval") => object(&["required"], json!({"required": {"type": "boolean"}})),
        ("post", p) if p.ends_with("/reject") => {
            let reason = json!({"type": "string", "maxLength": atlas_core::approval::MAX_REASON_CHARS});
            let body = object(&[], json!({"reason": reason}));
            return Some(json!({"required": false, "content": {"application/json": {"schema": body}}}));
        }
        ("post", p) if p.ends_with("/write-gate") => object(&["open"], json!({"open": {"type": "boolean"}})),
        ("post", p) if p.ends_with("/status") => object(&["status"], json!({"status": schema::<TenantStatus>()})),
        ("post", "/api/v1/tenants/{tenant}/connection") => json!({"oneOf": [
            object(&["enabled"], json!({"enabled": {"type": "boolean"}})),
            {"type": "object", "required": ["kind"], "additionalProperties": false,
             "description": "Adds the connection (201). microsoft_graph needs external_tenant_id, client_id and client_secret; the secret is sealed at rest and never returned.",
             "properties": {"kind": schema::<ConnectionKind>(),
                            "external_tenant_id": schema::<Guid>(),
                            "client_id": schema::<ClientId>(),
                            "client_secret": schema::<ClientSecret>()}}
        ]}),
        ("post", "/api/v1/workspaces/{workspace}/tenants") => object(
            &["name"],
            json!({"name": schema::<TenantName>(),
                   "status": schema::<TenantStatus>(),
                   "writes_enabled": {"type": "boolean", "default": false},
                   "external_tenant_id": schema::<Guid>()}),
        ),
        ("post", "/api/v1/workspaces/{workspace}/roles/{role}/capabilities") => {
            object(&["capabilities"], json!({"capabilities": caps}))
        }
        ("post", p) if p.ends_with("/enabled") => object(&["enabled"], json!({"enabled": {"type": "boolean"}})),
        ("post", "/api/v1/tenants/{tenant}/schedules") => {
            object(&["cron"], json!({"cron": schema::<CronExpr>(), "timezone": schema::<TimeZone>()}))
        }
        ("post", p) if p.ends_with("/fire") => object(&[], json!({"slot": {"type": "string", "format": "date-time"}})),
        ("post", "/api/v1/workspaces/{workspace}/members") => object(
            &["email", "role"],
            json!({"email": schema::<Email>(), "role": schema::<RoleName>(), "tenants": scope}),
        ),
        ("post", p) if p.ends_with("/role") => object(&["role"], json!({"role": schema::<RoleName>()})),
        ("post", p) if p.ends_with("/scope") => object(&["tenants"], json!({"tenants": scope})),
        ("post", "/api/v1/workspaces/{workspace}/roles") => {
            object(&["name", "capabilities"], json!({"name": schema::<RoleName>(), "capabilities": caps}))
        }
        ("post", "/api/v1/me/tokens") => {
            object(&["name"], json!({"name": schema::<TokenName>(), "expires_in": schema::<Lifetime>()}))
        }
        _ => return None,
    };
    Some(json!({"required": true, "content": {"application/json": {"schema": body}}}))
}

/// What a successful call answers: 201 for what it creates, 202 for a new run.
fn success(method: &str, path: &str) -> (&'static str, &'static str) {
    match (method, path) {
        ("post", p) if p.ends_with("/operations") || p.ends_with("/retry") || p.ends_with("/fire") => {
            ("202", "Accepted: the run (or the active one, deduplicated)")
        }
        ("post", "/api/v1/workspaces/{workspace}/tenants")
        | ("post", "/api/v1/workspaces/{workspace}/roles")
        | ("post", "/api/v1/workspaces/{workspace}/members")
        | ("post", "/api/v1/tenants/{tenant}/schedules")
        | ("post", "/api/v1/me/tokens") => ("201", "Created"),
        _ => ("200", "OK"),
    }
}

fn query_params(path: &str) -> Vec<Value> {
    let q = |name: &str, desc: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": desc});
    match path {
        "/api/v1/operations" => vec![
            q("workspace", "workspace slug or id (default: your first)"),
            q("tenant_id", "only runs of this tenant"),
            q("type", "operation type"),
            q("status", "queued, running or completed"),
            q("outcome", "pending, succeeded, partially_succeeded, failed, blocked or cancelled"),
            q("initiator", "a user id, or `system`"),
            q("cursor", "next_cursor of the previous page"),
            q("limit", "1–200, default 50"),
        ],
        "/api/v1/audit" => vec![
            q("workspace", ""),
            q("tenant_id", ""),
            q("actor", "a user id or `system`"),
            q("action", ""),
            q("before", "next_cursor of the previous page"),
        ],
        "/api/v1/tenants" => vec![q("workspace", ""), q("tenant_id", "")],
        _ => Vec::new(),
    }
}

/// The run JSON (SPEC §7).
fn run_schema() -> Value {
    json!({"type": "object", "properties": {
                    "id": {"type": "string"}, "type": {"type": "string"}, "workspace_id": {"type": "string"},
                    "tenant_id": {"type": ["string", "null"]}, "status": {"type": "string"}, "outcome": {"type": "string"},
                    "initiator_user_id": {"type": ["string", "null"]}, "authority_mode": {"type": "string"},
                    "source": {"type": ["object", "null"]}, "params": {"type": "object"}, "attempt": {"type": "integer"},
                    "max_attempts": {"type": "integer"}, "created_at": {"type": "string"}, "started_at": {"type": ["string", "null"]},
                    "completed_at": {"type": ["string", "null"]}, "decision": {"type": ["object", "null"]},
                    "summary_counts": {"type": "object"}, "failures": {"type": "array"}, "result": {"type": "object"},
                    "retry_of_run_id": {"type": ["string", "null"]},
                    "approval": {"$ref": "#/components/schemas/Approval"},
                    "actions": {"type": "object", "properties": {"cancel": {"type": "boolean"}, "retry": {"type": "boolean"}}},
                    "url": {"type": "string"}, "deduplicated": {"type": "boolean"}}})
}

/// The run's `approval` (SPEC §10.2).
fn approval_schema() -> Value {
    json!({"type": "object", "required": ["state"],
        "description": "Present on a writing run of a tenant that requires approval; `pending` runs are not claimed.",
        "properties": {"state": {"type": "string", "enum": ["pending", "approved", "rejected"]},
            "by": {"type": ["string", "null"], "format": "uuid"},
            "at": {"type": ["string", "null"], "format": "date-time"},
            "reason": {"type": ["string", "null"]}}})
}

/// The changes that take `?preview=true`.
const PREVIEWABLE: &[&str] = &[
    "/api/v1/workspaces/{workspace}/members/{user}/role",
    "/api/v1/workspaces/{workspace}/members/{user}/scope",
    "/api/v1/workspaces/{workspace}/members/{user}/revoke",
    "/api/v1/workspaces/{workspace}/roles/{role}/capabilities",
    "/api/v1/tenants/{tenant}/status",
    "/api/v1/tenants/{tenant}/write-gate",
    "/api/v1/tenants/{tenant}/connection",
    "/api/v1/tenants/{tenant}/schedules/{schedule}/enabled",
];

pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for r in routes().iter().filter(|r| r.surface == Surface::Api && r.path.starts_with("/api/v1/")) {
        let method = r.method.as_str().to_lowercase();
        let mut params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                let s = match name {
                    "workspace" | "role" => json!({"type": "string", "minLength": 1, "maxLength": 200}),
                    _ => json!({"type": "string", "format": "uuid"}),
                };
                json!({"name": name, "in": "path", "required": true, "schema": s})
            })
            .collect();
        params.extend(query_params(r.path));
        if method == "post" && PREVIEWABLE.contains(&r.path) {
            params.push(json!({"name": "preview", "in": "query", "required": false,
                "schema": {"type": "string", "enum": ["true", "false"]},
                "description": "true: change nothing; answer {\"preview\": true, \"affected\": [...], \"changed\": false}, the runs and schedule slots of the next 24 h the change would block (SPEC §10.2)"}));
        }
        let mut op = json!({
            "summary": format!("{} {}", r.method, r.path),
            "parameters": params,
            "responses": {
                "400": {"$ref": "#/components/responses/Error"},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/NotFound"},
                "409": {"$ref": "#/components/responses/Error"},
                "413": {"$ref": "#/components/responses/Error"},
                "422": {"$ref": "#/components/responses/Error"},
                "503": {"$ref": "#/components/responses/Error"}
            },
        });
        if let Value::Object(m) = &mut op {
            let (code, description) = success(&method, r.path);
            if let Some(Value::Object(responses)) = m.get_mut("responses") {
                responses.insert(code.into(), json!({"description": description, "content": {"application/json": {}}}));
                if r.path == "/api/v1/tenants/{tenant}/connection" && method == "post" {
                    responses.insert(
                        "201".into(),
                        json!({"description": "Created (a connection added)", "content": {"application/json": {}}}),
                    );
                }
            }
            if r.scope == Scope::Public {
                m.insert("security".into(), json!([]));
            }
            if let Some(body) = request_body(&method, r.path) {
                m.insert("requestBody".into(), body);
            }
        }
        let entry = paths.entry(r.path.to_owned()).or_insert_with(|| json!({}));
        if let Value::Object(m) = entry {
            m.insert(method, op);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "TenantAtlas API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Operations on managed tenants, authorized by the legitimacy gate. A 404 is the same whether a thing is missing or hidden."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API token from `atlas tokens create`"},
                "session": {"type": "apiKey", "in": "cookie", "name": "atlas_session", "description": "console session; writes need the X-CSRF-Token header"}
            },
            "schemas": {
                "StartOperation": {"type": "object", "required": ["type"], "additionalProperties": false,
                    "properties": {"type": schema::<OperationType>(), "params": {"type": "object"}}},
                "Scope": {"oneOf": [{"type": "string", "enum": ["all"]}, {"type": "array", "items": {"type": "string", "format": "uuid"}}]},
                "Run": run_schema(),
                "Approval": approval_schema(),
                "Error": {"type": "object", "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}, "denial_class": {"type": "string"}, "reason_code": {"type": "string"}}}}}
            },
            "responses": {
                "Error": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "NotFound": {"description": "Missing or hidden: always {\"error\": {\"code\": \"not_found\", \"message\": \"Not found\"}}",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        }
    })
}

pub async fn document_handler() -> Json<Value> {
    Json(document())
}
