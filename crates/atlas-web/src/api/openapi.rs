//! The OpenAPI 3 document of `/api/v1`, built from the route table (so it
//! lists every endpoint there is) plus hand-written schemas.

use axum::Json;
use serde_json::{json, Map, Value};

use crate::routes::{routes, Scope, Surface};

fn request_body(method: &str, path: &str) -> Option<Value> {
    let schema = match (method, path) {
        ("post", "/api/v1/tenants/{tenant}/operations") | ("post", "/api/v1/workspaces/{workspace}/operations") => {
            json!({"$ref": "#/components/schemas/StartOperation"})
        }
        ("post", p) if p.ends_with("/write-gate") => {
            json!({"type": "object", "required": ["open"], "properties": {"open": {"type": "boolean"}}})
        }
        ("post", p) if p.ends_with("/status") => {
            json!({"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["onboarding", "active", "suspended", "archived"]}}})
        }
        ("post", "/api/v1/tenants/{tenant}/connection") => json!({"oneOf": [
            {"type": "object", "required": ["enabled"], "additionalProperties": false,
             "properties": {"enabled": {"type": "boolean"}}},
            {"type": "object", "required": ["kind"], "additionalProperties": false,
             "description": "Adds the connection (201). microsoft_graph needs external_tenant_id, client_id and client_secret; the secret is sealed at rest and never returned.",
             "properties": {"kind": {"type": "string", "enum": ["sandbox", "microsoft_graph"]},
                            "external_tenant_id": {"type": "string", "format": "uuid"},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string", "writeOnly": true}}}
        ]}),
        ("post", "/api/v1/workspaces/{workspace}/tenants") => {
            json!({"type": "object", "required": ["name"], "additionalProperties": false, "properties": {
                "name": {"type": "string"},
                "status": {"type": "string", "enum": ["onboarding", "active", "suspended", "archived"], "default": "active"},
                "writes_enabled": {"type": "boolean", "default": false},
                "external_tenant_id": {"type": "string"}}})
        }
        ("post", "/api/v1/workspaces/{workspace}/roles/{role}/capabilities") => {
            json!({"type": "object", "required": ["capabilities"], "properties": {"capabilities": {"type": "array", "items": {"type": "string"}}}})
        }
        ("post", p) if p.ends_with("/enabled") => {
            json!({"type": "object", "properties": {"enabled": {"type": "boolean"}}})
        }
        ("post", "/api/v1/tenants/{tenant}/schedules") => {
            json!({"type": "object", "required": ["cron"], "properties": {"cron": {"type": "string"}, "timezone": {"type": "string"}}})
        }
        ("post", p) if p.ends_with("/fire") => {
            json!({"type": "object", "properties": {"slot": {"type": "string", "format": "date-time"}}})
        }
        ("post", "/api/v1/workspaces/{workspace}/members") => {
            json!({"type": "object", "required": ["email", "role"], "properties": {"email": {"type": "string"}, "role": {"type": "string"}, "tenants": {"$ref": "#/components/schemas/Scope"}}})
        }
        ("post", p) if p.ends_with("/role") => {
            json!({"type": "object", "required": ["role"], "properties": {"role": {"type": "string"}}})
        }
        ("post", p) if p.ends_with("/scope") => {
            json!({"type": "object", "required": ["tenants"], "properties": {"tenants": {"$ref": "#/components/schemas/Scope"}}})
        }
        ("post", "/api/v1/workspaces/{workspace}/roles") => {
            json!({"type": "object", "required": ["name", "capabilities"], "properties": {"name": {"type": "string"}, "capabilities": {"type": "array", "items": {"type": "string"}}}})
        }
        _ => return None,
    };
    Some(json!({"required": true, "content": {"application/json": {"schema": schema}}}))
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

pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for r in routes().iter().filter(|r| r.surface == Surface::Api && r.path.starts_with("/api/v1/")) {
        let method = r.method.as_str().to_lowercase();
        let mut params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        params.extend(query_params(r.path));
        let mut op = json!({
            "summary": format!("{} {}", r.method, r.path),
            "parameters": params,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {}}},
                "202": {"description": "Accepted (a new run)"},
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
        "openapi": "3.0.3",
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
                    "properties": {"type": {"type": "string"}, "params": {"type": "object"}}},
                "Scope": {"oneOf": [{"type": "string", "enum": ["all"]}, {"type": "array", "items": {"type": "string", "format": "uuid"}}]},
                "Run": {"type": "object", "properties": {
                    "id": {"type": "string"}, "type": {"type": "string"}, "workspace_id": {"type": "string"},
                    "tenant_id": {"type": "string", "nullable": true}, "status": {"type": "string"}, "outcome": {"type": "string"},
                    "initiator_user_id": {"type": "string", "nullable": true}, "authority_mode": {"type": "string"},
                    "source": {"type": "object", "nullable": true}, "params": {"type": "object"}, "attempt": {"type": "integer"},
                    "max_attempts": {"type": "integer"}, "created_at": {"type": "string"}, "started_at": {"type": "string", "nullable": true},
                    "completed_at": {"type": "string", "nullable": true}, "decision": {"type": "object", "nullable": true},
                    "summary_counts": {"type": "object"}, "failures": {"type": "array"}, "result": {"type": "object"},
                    "retry_of_run_id": {"type": "string", "nullable": true},
                    "actions": {"type": "object", "properties": {"cancel": {"type": "boolean"}, "retry": {"type": "boolean"}}},
                    "url": {"type": "string"}, "deduplicated": {"type": "boolean"}}},
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
