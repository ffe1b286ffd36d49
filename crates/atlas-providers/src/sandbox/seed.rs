//! The sandbox tenant's initial content, built from the Graph-shaped fixtures
//! copied into `seed/` (compiled in: the binary reads no files at run time).
//!
//! Objects keep the payloads Graph would return, with what a backup tool adds
//! by reading further: settings-catalog policies carry their `settings`,
//! scripts their `scriptContent` where the single-get fixture has it, and
//! app protection policies an `@odata.type` (their typed collections omit it,
//! but a restore needs it to know where to create them).
//!
//! The types added with the registry come from one file each, already in
//! that whole form ([`WHOLE_OBJECTS`]); each item goes to the registered type
//! whose collection and `@odata.type` filter it matches, so a collection two
//! types share (device configurations and update rings, enrollment
//! configurations and status pages) is split as Graph readers split it.

use std::collections::BTreeMap;

use atlas_store::sandbox::{SandboxCompliance, SandboxGroup, SandboxSeed, SandboxSeedObject};
use serde_json::Value;

use crate::object_type::{self, by_key};
use crate::{Kind, ProviderError};

/// A seed file: its name (for errors) and its text.
type File = (&'static str, &'static str);

macro_rules! seed_file {
    ($name:literal) => {
        ($name, include_str!(concat!("../../seed/", $name)))
    };
}

const DEVICE_CONFIGURATIONS: [File; 2] = [
    seed_file!("v1.0_deviceManagement_deviceConfigurations_page1.json"),
    seed_file!("v1.0_deviceManagement_deviceConfigurations_page2.json"),
];
const COMPLIANCE_POLICIES: File = seed_file!("v1.0_deviceManagement_deviceCompliancePolicies.json");
const CONFIGURATION_POLICIES: File = seed_file!("beta_deviceManagement_configurationPolicies.json");
const CONFIGURATION_POLICY_SETTINGS: [(&str, File); 2] = [
    (
        "9cb2b211-8b18-442f-a535-ce8771a3bb5a",
        seed_file!("beta_deviceManagement_configurationPolicies_9cb2b211-8b18-442f-a535-ce8771a3bb5a_settings.json"),
    ),
    (
        "78a8ddaa-f74d-4e01-ba2c-55a884b9eb71",
        seed_file!("beta_deviceManagement_configurationPolicies_78a8ddaa-f74d-4e01-ba2c-55a884b9eb71_settings.json"),
    ),
];
const APP_PROTECTION_POLICIES: [(&str, File); 2] = [
    ("#microsoft.graph.iosManagedAppProtection", seed_file!("v1.0_deviceAppManagement_iosManagedAppProtections.json")),
    (
        "#microsoft.graph.androidManagedAppProtection",
        seed_file!("v1.0_deviceAppManagement_androidManagedAppProtections.json"),
    ),
];
const SCRIPTS: File = seed_file!("beta_deviceManagement_deviceManagementScripts.json");
const SCRIPT_SINGLE_GETS: [File; 1] =
    [seed_file!("beta_deviceManagement_deviceManagementScripts_c98d5944-9f97-4362-8e97-b27d3cd9d890.json")];
const ASSIGNMENT_FILTERS: File = seed_file!("beta_deviceManagement_assignmentFilters.json");
const ROLE_SCOPE_TAGS: File = seed_file!("beta_deviceManagement_roleScopeTags.json");
const FIXTURE_ASSIGNMENTS: [(&str, File); 1] = [(
    "8d4d2cd6-1c9c-4db1-937d-d03b94b09201",
    seed_file!("beta_deviceManagement_deviceConfigurations_8d4d2cd6-1c9c-4db1-937d-d03b94b09201_assignments.json"),
)];
/// Collection path → a file of its objects, whole (a collection response, or
/// the entity itself for a singleton).
const WHOLE_OBJECTS: &[(&str, File)] = &[
    (
        "deviceManagement/deviceConfigurations",
        seed_file!("beta_deviceManagement_deviceConfigurations_windowsUpdateForBusinessConfiguration.json"),
    ),
    ("deviceManagement/intents", seed_file!("beta_deviceManagement_intents.json")),
    ("deviceManagement/groupPolicyConfigurations", seed_file!("beta_deviceManagement_groupPolicyConfigurations.json")),
    ("deviceManagement/deviceComplianceScripts", seed_file!("beta_deviceManagement_deviceComplianceScripts.json")),
    (
        "deviceManagement/notificationMessageTemplates",
        seed_file!("beta_deviceManagement_notificationMessageTemplates.json"),
    ),
    (
        "deviceManagement/windowsFeatureUpdateProfiles",
        seed_file!("beta_deviceManagement_windowsFeatureUpdateProfiles.json"),
    ),
    (
        "deviceManagement/windowsQualityUpdateProfiles",
        seed_file!("beta_deviceManagement_windowsQualityUpdateProfiles.json"),
    ),
    (
        "deviceManagement/windowsDriverUpdateProfiles",
        seed_file!("beta_deviceManagement_windowsDriverUpdateProfiles.json"),
    ),
    ("deviceManagement/deviceHealthScripts", seed_file!("beta_deviceManagement_deviceHealthScripts.json")),
    ("deviceManagement/deviceShellScripts", seed_file!("beta_deviceManagement_deviceShellScripts.json")),
    (
        "deviceManagement/deviceCustomAttributeShellScripts",
        seed_file!("beta_deviceManagement_deviceCustomAttributeShellScripts.json"),
    ),
    (
        "deviceAppManagement/windowsManagedAppProtections",
        seed_file!("beta_deviceAppManagement_windowsManagedAppProtections.json"),
    ),
    (
        "deviceAppManagement/mobileAppConfigurations",
        seed_file!("v1.0_deviceAppManagement_mobileAppConfigurations.json"),
    ),
    (
        "deviceAppManagement/targetedManagedAppConfigurations",
        seed_file!("v1.0_deviceAppManagement_targetedManagedAppConfigurations.json"),
    ),
    (
        "deviceManagement/windowsAutopilotDeploymentProfiles",
        seed_file!("beta_deviceManagement_windowsAutopilotDeploymentProfiles.json"),
    ),
    (
        "deviceManagement/deviceEnrollmentConfigurations",
        seed_file!("beta_deviceManagement_deviceEnrollmentConfigurations.json"),
    ),
    ("deviceManagement/deviceCategories", seed_file!("beta_deviceManagement_deviceCategories.json")),
    ("deviceManagement/termsAndConditions", seed_file!("v1.0_deviceManagement_termsAndConditions.json")),
    ("deviceManagement/deviceManagementPartners", seed_file!("beta_deviceManagement_deviceManagementPartners.json")),
    (
        "deviceManagement/complianceManagementPartners",
        seed_file!("beta_deviceManagement_complianceManagementPartners.json"),
    ),
    ("deviceManagement/remoteAssistancePartners", seed_file!("beta_deviceManagement_remoteAssistancePartners.json")),
    (
        "deviceManagement/applePushNotificationCertificate",
        seed_file!("beta_deviceManagement_applePushNotificationCertificate.json"),
    ),
    ("deviceManagement/depOnboardingSettings", seed_file!("beta_deviceManagement_depOnboardingSettings.json")),
    ("deviceAppManagement/vppTokens", seed_file!("beta_deviceAppManagement_vppTokens.json")),
    (
        "deviceManagement/androidManagedStoreAccountEnterpriseSettings",
        seed_file!("beta_deviceManagement_androidManagedStoreAccountEnterpriseSettings.json"),
    ),
];
const SANDBOX_ASSIGNMENTS: File = seed_file!("sandbox_assignments.json");
const GROUPS: File = seed_file!("v1.0_groups_select_id_displayName.json");
const SETTING_STATE_SUMMARIES: File =
    seed_file!("v1.0_deviceManagement_deviceCompliancePolicySettingStateSummaries.json");
const DEVICE_STATUS_OVERVIEWS: [File; 1] = [seed_file!(
    "v1.0_deviceManagement_deviceCompliancePolicies_fbabfd63-cc3a-4bd6-85b7-4005ca855dc8_deviceStatusOverview.json"
)];

fn bad(file: File, what: impl std::fmt::Display) -> ProviderError {
    ProviderError::Other(format!("sandbox seed {}: {what}", file.0))
}

fn parse(file: File) -> Result<Value, ProviderError> {
    serde_json::from_str(file.1).map_err(|e| bad(file, e))
}

/// The `value` array of a Graph collection response.
fn items(file: File) -> Result<Vec<Value>, ProviderError> {
    match parse(file)? {
        Value::Object(mut m) => match m.remove("value") {
            Some(Value::Array(items)) => Ok(items),
            _ => Err(bad(file, "no `value` array")),
        },
        _ => Err(bad(file, "not a JSON object")),
    }
}

fn str_member<'a>(file: File, item: &'a Value, key: &str) -> Result<&'a str, ProviderError> {
    item.get(key).and_then(Value::as_str).ok_or_else(|| bad(file, format!("an item has no `{key}`")))
}

fn count(item: &Value, key: &str) -> i64 {
    item.get(key).and_then(Value::as_i64).unwrap_or(0).max(0)
}

/// A registered type by key; the seed names only registered keys.
fn kind(key: &str) -> Result<Kind, ProviderError> {
    by_key(key).ok_or_else(|| ProviderError::Other(format!("sandbox seed: {key} is not a registered type")))
}

/// The registered type an item of the collection at `path` belongs to, and
/// the item with the `@odata.type` of a typed collection added.
fn classify(file: File, path: &str, mut item: Value) -> Result<(Kind, Value), ProviderError> {
    let odata_type = item.get("@odata.type").and_then(Value::as_str).map(str::to_owned);
    for t in object_type::all() {
        let Some(c) = t.collections.iter().find(|c| c.path == path) else { continue };
        let odata_type = odata_type.as_deref().or(c.item_type);
        if t.includes(odata_type) {
            if let (Some(item_type), Value::Object(m)) = (c.item_type, &mut item) {
                m.entry("@odata.type").or_insert_with(|| Value::String(item_type.into()));
            }
            return Ok((t, item));
        }
    }
    Err(bad(file, format!("no registered type holds {path} items of type {odata_type:?}")))
}

/// The objects of the whole-object files, each under its registered type.
fn whole_objects() -> Result<Vec<(Kind, Value)>, ProviderError> {
    let mut out = Vec::new();
    for (path, file) in WHOLE_OBJECTS {
        let list = match parse(*file)? {
            Value::Object(mut m) => match m.remove("value") {
                Some(Value::Array(items)) => items,
                // A singleton: the entity itself.
                Some(_) => return Err(bad(*file, "`value` is not an array")),
                None => {
                    m.remove("@odata.context");
                    vec![Value::Object(m)]
                }
            },
            _ => return Err(bad(*file, "not a JSON object")),
        };
        for item in list {
            out.push(classify(*file, path, item)?);
        }
    }
    Ok(out)
}

/// Everything a freshly seeded sandbox tenant holds.
pub fn seed_data() -> Result<SandboxSeed, ProviderError> {
    let mut objects: Vec<(Kind, Value)> = Vec::new();
    for file in DEVICE_CONFIGURATIONS {
        for v in items(file)? {
            objects.push((kind("device_configuration")?, v));
        }
    }
    let compliance_policies = items(COMPLIANCE_POLICIES)?;
    for v in compliance_policies.iter().cloned() {
        objects.push((kind("compliance_policy")?, v));
    }

    let mut settings = BTreeMap::new();
    for (id, file) in CONFIGURATION_POLICY_SETTINGS {
        settings.insert(id, Value::Array(items(file)?));
    }
    for mut policy in items(CONFIGURATION_POLICIES)? {
        let id = str_member(CONFIGURATION_POLICIES, &policy, "id")?.to_owned();
        // Policies without a settings fixture get an empty list, so every
        // settings-catalog payload has the same shape.
        let merged = settings.remove(id.as_str()).unwrap_or_else(|| Value::Array(Vec::new()));
        if let Value::Object(m) = &mut policy {
            m.insert("settings".into(), merged);
        }
        objects.push((kind("configuration_policy")?, policy));
    }

    for (odata_type, file) in APP_PROTECTION_POLICIES {
        for mut policy in items(file)? {
            if let Value::Object(m) = &mut policy {
                m.insert("@odata.type".into(), Value::String(odata_type.into()));
            }
            objects.push((kind("app_protection_policy")?, policy));
        }
    }

    let mut full_scripts = BTreeMap::new();
    for file in SCRIPT_SINGLE_GETS {
        let mut script = parse(file)?;
        if let Value::Object(m) = &mut script {
            m.remove("@odata.context");
        }
        full_scripts.insert(str_member(file, &script, "id")?.to_owned(), script);
    }
    for script in items(SCRIPTS)? {
        let id = str_member(SCRIPTS, &script, "id")?;
        let script = full_scripts.remove(id).unwrap_or(script);
        objects.push((kind("device_management_script")?, script));
    }

    for v in items(ASSIGNMENT_FILTERS)? {
        objects.push((kind("assignment_filter")?, v));
    }
    for v in items(ROLE_SCOPE_TAGS)? {
        objects.push((kind("role_scope_tag")?, v));
    }
    objects.extend(whole_objects()?);

    let mut assignments = assignments()?;
    let objects = objects
        .into_iter()
        .map(|(kind, payload)| {
            let object_id = str_member(("seed objects", ""), &payload, "id")?.to_owned();
            let assignments = assignments.remove(&object_id).unwrap_or_default();
            Ok(SandboxSeedObject { kind: kind.key.to_owned(), object_id, payload, assignments })
        })
        .collect::<Result<Vec<_>, ProviderError>>()?;
    if let Some(orphan) = assignments.keys().next() {
        return Err(bad(SANDBOX_ASSIGNMENTS, format!("assignments for unknown object {orphan}")));
    }

    let groups = items(GROUPS)?
        .iter()
        .map(|g| {
            Ok(SandboxGroup {
                group_id: str_member(GROUPS, g, "id")?.to_owned(),
                display_name: str_member(GROUPS, g, "displayName")?.to_owned(),
            })
        })
        .collect::<Result<Vec<_>, ProviderError>>()?;

    Ok(SandboxSeed { objects, groups, compliance: compliance(&compliance_policies)? })
}

/// Assignments by object id: the fixture's, then the sandbox's own.
fn assignments() -> Result<BTreeMap<String, Vec<Value>>, ProviderError> {
    let mut out = BTreeMap::new();
    for (id, file) in FIXTURE_ASSIGNMENTS {
        out.insert(id.to_owned(), items(file)?);
    }
    let Value::Object(extra) = parse(SANDBOX_ASSIGNMENTS)? else {
        return Err(bad(SANDBOX_ASSIGNMENTS, "not a JSON object"));
    };
    for (id, list) in extra {
        match list {
            Value::Array(list) => {
                out.insert(id, list);
            }
            // `_comment` and the like.
            Value::String(_) => {}
            _ => return Err(bad(SANDBOX_ASSIGNMENTS, format!("`{id}` is not a list"))),
        }
    }
    Ok(out)
}

/// One summary per compliance policy: from its `deviceStatusOverview` where
/// there is one, else from the per-setting summaries of its policy class (a
/// device counts by the first setting reported, e.g. `IosCompliancePolicy.*`
/// for `#microsoft.graph.iosCompliancePolicy`), else all zero (no devices).
fn compliance(policies: &[Value]) -> Result<Vec<SandboxCompliance>, ProviderError> {
    let mut overviews = BTreeMap::new();
    for file in DEVICE_STATUS_OVERVIEWS {
        let o = parse(file)?;
        overviews.insert(str_member(file, &o, "id")?.to_owned(), o);
    }
    let settings = items(SETTING_STATE_SUMMARIES)?;
    policies
        .iter()
        .map(|p| {
            let policy_id = str_member(COMPLIANCE_POLICIES, p, "id")?.to_owned();
            let display_name = str_member(COMPLIANCE_POLICIES, p, "displayName")?.to_owned();
            if let Some(o) = overviews.get(&policy_id) {
                return Ok(SandboxCompliance {
                    policy_id,
                    display_name,
                    compliant: count(o, "successCount"),
                    non_compliant: count(o, "failedCount"),
                    error: count(o, "errorCount"),
                    not_applicable: count(o, "notApplicableCount"),
                });
            }
            let class = policy_class(p.get("@odata.type").and_then(Value::as_str).unwrap_or_default());
            let setting = settings.iter().find(|s| {
                s.get("setting").and_then(Value::as_str).is_some_and(|n| n.starts_with(&format!("{class}.")))
            });
            let c = |key| setting.map_or(0, |s| count(s, key));
            Ok(SandboxCompliance {
                policy_id,
                display_name,
                compliant: c("compliantDeviceCount"),
                non_compliant: c("nonCompliantDeviceCount"),
                error: c("errorDeviceCount"),
                not_applicable: c("notApplicableDeviceCount"),
            })
        })
        .collect()
}

/// `#microsoft.graph.iosCompliancePolicy` → `IosCompliancePolicy`.
fn policy_class(odata_type: &str) -> String {
    let name = odata_type.rsplit('.').next().unwrap_or_default();
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_registered_type_has_seeded_objects_with_unique_names() {
        let seed = seed_data().unwrap();
        for t in object_type::all() {
            let names: Vec<String> = seed
                .objects
                .iter()
                .filter(|o| o.kind == t.key)
                .map(|o| t.display_name(&o.payload, &o.object_id))
                .collect();
            assert!(!names.is_empty(), "{} has no sandbox seed", t.key);
            let unique: std::collections::BTreeSet<&String> = names.iter().collect();
            assert_eq!(unique.len(), names.len(), "{}: names repeat: {names:?}", t.key);
            if t.singleton {
                assert_eq!(names.len(), 1, "{} is a singleton", t.key);
            }
        }
        // Update rings are device configurations in Graph, not in the registry.
        let rings = seed.objects.iter().filter(|o| o.kind == "windows_update_ring").count();
        assert_eq!(rings, 2);
        assert!(seed
            .objects
            .iter()
            .filter(|o| o.kind == "device_configuration")
            .all(|o| { o.payload["@odata.type"] != "#microsoft.graph.windowsUpdateForBusinessConfiguration" }));
    }

    #[test]
    fn policy_class_capitalizes_the_type_name() {
        assert_eq!(policy_class("#microsoft.graph.iosCompliancePolicy"), "IosCompliancePolicy");
        assert_eq!(policy_class(""), "");
    }
}
