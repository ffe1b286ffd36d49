//! Tenant status and the tenant scope of a membership.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    Onboarding,
    Active,
    Suspended,
    Archived,
}

impl TenantStatus {
    pub const ALL: &'static [TenantStatus] =
        &[TenantStatus::Onboarding, TenantStatus::Active, TenantStatus::Suspended, TenantStatus::Archived];

    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Onboarding => "onboarding",
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
            TenantStatus::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<TenantStatus> {
        TenantStatus::ALL.iter().copied().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which tenants of the workspace a member is entitled to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "tenant_ids")]
pub enum TenantScope {
    All,
    Tenants(BTreeSet<Uuid>),
}

impl TenantScope {
    pub fn includes(&self, tenant_id: Uuid) -> bool {
        match self {
            TenantScope::All => true,
            TenantScope::Tenants(ids) => ids.contains(&tenant_id),
        }
    }

    /// Stored form: `all`, or a comma-separated list of tenant ids.
    pub fn to_db(&self) -> String {
        match self {
            TenantScope::All => "all".to_owned(),
            TenantScope::Tenants(ids) => ids.iter().map(Uuid::to_string).collect::<Vec<_>>().join(","),
        }
    }

    /// Parses the stored form. An unreadable entry makes the scope empty rather
    /// than wider: scope errors must fail closed.
    pub fn from_db(s: &str) -> TenantScope {
        if s == "all" {
            return TenantScope::All;
        }
        let parsed: Result<BTreeSet<Uuid>, _> = s.split(',').filter(|p| !p.is_empty()).map(Uuid::parse_str).collect();
        TenantScope::Tenants(parsed.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_round_trips_and_fails_closed() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let scope = TenantScope::Tenants([a, b].into_iter().collect());
        assert_eq!(TenantScope::from_db(&scope.to_db()), scope);
        assert_eq!(TenantScope::from_db("all"), TenantScope::All);
        assert!(!TenantScope::from_db("garbage").includes(a));
        assert!(TenantScope::All.includes(a));
        assert_eq!(TenantScope::from_db(""), TenantScope::Tenants(BTreeSet::new()));
    }
}

/// The provider behind a tenant's connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionKind {
    Sandbox,
    MicrosoftGraph,
}

impl ConnectionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionKind::Sandbox => "sandbox",
            ConnectionKind::MicrosoftGraph => "microsoft_graph",
        }
    }

    pub fn parse(s: &str) -> Option<ConnectionKind> {
        match s {
            "sandbox" => Some(ConnectionKind::Sandbox),
            "microsoft_graph" => Some(ConnectionKind::MicrosoftGraph),
            _ => None,
        }
    }

    /// A sandbox needs no consent; a Graph connection waits for a passing check.
    pub fn initial_status(self) -> ConnectionStatus {
        match self {
            ConnectionKind::Sandbox => ConnectionStatus::Enabled,
            ConnectionKind::MicrosoftGraph => ConnectionStatus::PendingConsent,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    PendingConsent,
    Enabled,
    Disabled,
}

impl ConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::PendingConsent => "pending_consent",
            ConnectionStatus::Enabled => "enabled",
            ConnectionStatus::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<ConnectionStatus> {
        match s {
            "pending_consent" => Some(ConnectionStatus::PendingConsent),
            "enabled" => Some(ConnectionStatus::Enabled),
            "disabled" => Some(ConnectionStatus::Disabled),
            _ => None,
        }
    }
}
