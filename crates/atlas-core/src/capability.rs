//! The capability registry: one canonical enum, and the only place that maps
//! roles to capabilities. Nothing else in the product looks at a role name.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! capabilities {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// A permission a role grants. The string forms are part of the public contract.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Capability {
            $(#[serde(rename = $name)] $variant,)+
        }

        impl Capability {
            /// Every capability, in registry order.
            pub const ALL: &'static [Capability] = &[$(Capability::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Capability::$variant => $name,)+
                }
            }
        }

        impl FromStr for Capability {
            type Err = UnknownCapability;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(Capability::$variant),)+
                    other => Err(UnknownCapability(other.to_owned())),
                }
            }
        }
    };
}

capabilities! {
    WorkspaceView => "workspace.view",
    OperationsView => "operations.view",
    TenantView => "tenant.view",
    ProviderConnectionsVerify => "provider.connections.verify",
    TenantInventorySync => "tenant.inventory.sync",
    TenantPoliciesSync => "tenant.policies.sync",
    TenantComplianceSnapshot => "tenant.compliance.snapshot",
    TenantBackupRun => "tenant.backup.run",
    ProviderConnectionsManage => "provider.connections.manage",
    TenantManage => "tenant.manage",
    TenantBackupSchedulesManage => "tenant.backup.schedules.manage",
    TenantRestoreExecute => "tenant.restore.execute",
    BulkExecute => "bulk.execute",
    OperationsCancel => "operations.cancel",
    AuditView => "audit.view",
    MembersManage => "members.manage",
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability `{0}`")]
pub struct UnknownCapability(pub String);

/// A set of capabilities, ordered so that it serializes the same way every time.
pub type CapabilitySet = BTreeSet<Capability>;

/// Parses a comma-separated capability list (`a.b,c.d`); empty entries are ignored.
pub fn parse_capability_list(list: &str) -> Result<CapabilitySet, UnknownCapability> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Capability::from_str).collect()
}

/// The four built-in roles of every workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuiltinRole {
    Owner,
    Manager,
    Operator,
    Readonly,
}

impl BuiltinRole {
    pub const ALL: &'static [BuiltinRole] =
        &[BuiltinRole::Owner, BuiltinRole::Manager, BuiltinRole::Operator, BuiltinRole::Readonly];

    pub fn as_str(self) -> &'static str {
        match self {
            BuiltinRole::Owner => "owner",
            BuiltinRole::Manager => "manager",
            BuiltinRole::Operator => "operator",
            BuiltinRole::Readonly => "readonly",
        }
    }

    pub fn parse(name: &str) -> Option<BuiltinRole> {
        BuiltinRole::ALL.iter().copied().find(|r| r.as_str() == name)
    }

    /// SPEC §2: each tier adds to the one below it.
    pub fn capabilities(self) -> CapabilitySet {
        use Capability::*;
        let read: &[Capability] = &[WorkspaceView, OperationsView, TenantView];
        let operate: &[Capability] = &[
            ProviderConnectionsVerify,
            TenantInventorySync,
            TenantPoliciesSync,
            TenantComplianceSnapshot,
            TenantBackupRun,
        ];
        let manage: &[Capability] = &[
            ProviderConnectionsManage,
            TenantManage,
            TenantBackupSchedulesManage,
            TenantRestoreExecute,
            BulkExecute,
            OperationsCancel,
            AuditView,
        ];
        let own: &[Capability] = &[MembersManage];
        let tiers: &[&[Capability]] = match self {
            BuiltinRole::Readonly => &[read],
            BuiltinRole::Operator => &[read, operate],
            BuiltinRole::Manager => &[read, operate, manage],
            BuiltinRole::Owner => &[read, operate, manage, own],
        };
        tiers.iter().flat_map(|t| t.iter().copied()).collect()
    }
}

/// A member's role: built in, or a custom role of the workspace with its
/// capabilities as they are stored now (so editing the role affects every holder).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Builtin(BuiltinRole),
    Custom { name: String, capabilities: CapabilitySet },
}

impl Role {
    pub fn name(&self) -> &str {
        match self {
            Role::Builtin(b) => b.as_str(),
            Role::Custom { name, .. } => name,
        }
    }

    pub fn capabilities(&self) -> CapabilitySet {
        match self {
            Role::Builtin(b) => b.capabilities(),
            Role::Custom { capabilities, .. } => capabilities.clone(),
        }
    }

    pub fn grants(&self, capability: Capability) -> bool {
        match self {
            Role::Builtin(b) => b.capabilities().contains(&capability),
            Role::Custom { capabilities, .. } => capabilities.contains(&capability),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Capability::*;

    fn set(caps: &[Capability]) -> CapabilitySet {
        caps.iter().copied().collect()
    }

    #[test]
    fn builtin_roles_map_exactly_as_the_spec_table_says() {
        let readonly = set(&[WorkspaceView, OperationsView, TenantView]);
        let operator = set(&[
            WorkspaceView,
            OperationsView,
            TenantView,
            ProviderConnectionsVerify,
            TenantInventorySync,
            TenantPoliciesSync,
            TenantComplianceSnapshot,
            TenantBackupRun,
        ]);
        let mut manager = operator.clone();
        manager.extend([
            ProviderConnectionsManage,
            TenantManage,
            TenantBackupSchedulesManage,
            TenantRestoreExecute,
            BulkExecute,
            OperationsCancel,
            AuditView,
        ]);
        let owner: CapabilitySet = Capability::ALL.iter().copied().collect();
        assert_eq!(BuiltinRole::Readonly.capabilities(), readonly);
        assert_eq!(BuiltinRole::Operator.capabilities(), operator);
        assert_eq!(BuiltinRole::Manager.capabilities(), manager);
        assert_eq!(BuiltinRole::Owner.capabilities(), owner);
        assert!(!BuiltinRole::Manager.capabilities().contains(&MembersManage));
    }

    #[test]
    fn capability_names_round_trip() {
        for cap in Capability::ALL {
            assert_eq!(cap.as_str().parse::<Capability>(), Ok(*cap));
            let json = serde_json::to_string(cap).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", cap.as_str()));
        }
        assert!("tenant.nuke".parse::<Capability>().is_err());
    }

    #[test]
    fn custom_role_grants_only_its_set() {
        let auditor = Role::Custom { name: "auditor".into(), capabilities: set(&[AuditView]) };
        assert!(auditor.grants(AuditView));
        assert!(!auditor.grants(OperationsView));
        assert_eq!(parse_capability_list("audit.view, workspace.view,"), Ok(set(&[AuditView, WorkspaceView])));
    }
}
