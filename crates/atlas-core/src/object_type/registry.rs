//! The table. Paths, versions, expansions and write semantics are from the
//! Microsoft Graph resource and method reference (learn.microsoft.com, the
//! `intune-*` pages of each resource); the choice of types follows what
//! Intune backup tools (IntuneCD) back up. Keys are stored in databases:
//! add types, never rename a key.

use super::ApiVersion::{Beta, V1};
use super::{Assignments, Collection, KeyedArray, Members, ObjectType, TypeFilter, Write};

const CONFIGURATION: &str = "DeviceManagementConfiguration.ReadWrite.All";
const APPS: &str = "DeviceManagementApps.ReadWrite.All";
const SERVICE_CONFIG: &str = "DeviceManagementServiceConfig.ReadWrite.All";

/// Windows Update for Business rings live among device configurations.
const UPDATE_RING: &str = "#microsoft.graph.windowsUpdateForBusinessConfiguration";
/// Enrollment status pages live among enrollment configurations.
const STATUS_PAGE: &str = "#microsoft.graph.windows10EnrollmentCompletionPageConfiguration";

/// What most policies refer to: filters in their assignments, scope tags in `roleScopeTagIds`.
const POLICY_DEPENDENCIES: &[&str] = &["role_scope_tag", "assignment_filter"];
const NAME_AND_TYPE: &[&str] = &["displayName", "@odata.type"];
const NAME: &[&str] = &["displayName"];

const fn one(version: super::ApiVersion, path: &'static str) -> Collection {
    Collection { version, path, item_type: None }
}

const fn assign(body_key: &'static str, item_type: &'static str) -> Assignments {
    Assignments::AssignAction { body_key, item_type }
}

const ASSIGN_CONFIGURATION: Assignments = assign("assignments", "#microsoft.graph.deviceConfigurationAssignment");
const ASSIGN_MANAGED_APP: Assignments = assign("assignments", "#microsoft.graph.targetedManagedAppPolicyAssignment");
const ASSIGN_SCRIPT: Assignments =
    assign("deviceManagementScriptAssignments", "#microsoft.graph.deviceManagementScriptAssignment");
const ASSIGN_ENROLLMENT: Assignments =
    assign("enrollmentConfigurationAssignments", "#microsoft.graph.enrollmentConfigurationAssignment");

/// A type with the common defaults: one collection, every item, inline,
/// no assignments, PATCH, matched on `displayName`.
const fn base(
    key: &'static str,
    label: &'static str,
    collections: &'static [Collection],
    permission: &'static str,
) -> ObjectType {
    ObjectType {
        key,
        label,
        collections,
        singleton: false,
        type_filter: TypeFilter::All,
        name_member: "displayName",
        members: Members::Inline,
        assignments: Assignments::None,
        write: Write::Patch,
        extra_server_managed: &[],
        match_on: NAME,
        keyed_arrays: &[],
        depends_on: &[],
        permission,
    }
}

/// The rules for a key the registry does not know (an object stored by a
/// newer or older build): the common service-owned members, nothing keyed.
pub(super) static UNREGISTERED: ObjectType = ObjectType {
    write: Write::ReadOnly { reason: "the type is not registered" },
    match_on: &[],
    ..base("unregistered", "Unregistered type", &[], CONFIGURATION)
};

pub static OBJECT_TYPES: &[ObjectType] = &[
    // --- Configuration -----------------------------------------------------
    ObjectType {
        type_filter: TypeFilter::Except(&[UPDATE_RING]),
        assignments: ASSIGN_CONFIGURATION,
        match_on: NAME_AND_TYPE,
        depends_on: POLICY_DEPENDENCIES,
        ..base(
            "device_configuration",
            "Device configuration profiles",
            &[one(V1, "deviceManagement/deviceConfigurations")],
            CONFIGURATION,
        )
    },
    ObjectType {
        members: Members::SubCollection { member: "settings", query: "" },
        assignments: assign("assignments", "#microsoft.graph.deviceManagementConfigurationPolicyAssignment"),
        write: Write::Put { member: "settings" },
        name_member: "name",
        extra_server_managed: &["settingCount", "isAssigned"],
        match_on: &["name", "platforms", "technologies"],
        keyed_arrays: &[
            KeyedArray { member: "settings", key: "/settingInstance/settingDefinitionId" },
            KeyedArray { member: "children", key: "/settingDefinitionId" },
        ],
        depends_on: POLICY_DEPENDENCIES,
        ..base(
            "configuration_policy",
            "Settings catalog policies",
            &[one(Beta, "deviceManagement/configurationPolicies")],
            CONFIGURATION,
        )
    },
    ObjectType {
        members: Members::SubCollection { member: "settings", query: "" },
        assignments: assign("assignments", "#microsoft.graph.deviceManagementIntentAssignment"),
        write: Write::TemplateInstance { member: "settings" },
        extra_server_managed: &["isAssigned"],
        match_on: &["displayName", "templateId"],
        keyed_arrays: &[KeyedArray { member: "settings", key: "/definitionId" }],
        depends_on: POLICY_DEPENDENCIES,
        ..base(
            "endpoint_security_intent",
            "Endpoint security and security baseline profiles (intents)",
            &[one(Beta, "deviceManagement/intents")],
            CONFIGURATION,
        )
    },
    ObjectType {
        members: Members::DefinitionValues,
        assignments: assign("assignments", "#microsoft.graph.groupPolicyConfigurationAssignment"),
        write: Write::DefinitionValues,
        keyed_arrays: &[
            KeyedArray { member: "definitionValues", key: "/definition/id" },
            KeyedArray { member: "presentationValues", key: "/presentation/id" },
        ],
        depends_on: POLICY_DEPENDENCIES,
        ..base(
            "group_policy_configuration",
            "Administrative templates (group policy)",
            &[one(Beta, "deviceManagement/groupPolicyConfigurations")],
            CONFIGURATION,
        )
    },
    ObjectType {
        members: Members::Expand {
            member: "scheduledActionsForRule",
            query: "$expand=scheduledActionsForRule($expand=scheduledActionConfigurations)",
        },
        assignments: assign("assignments", "#microsoft.graph.deviceCompliancePolicyAssignment"),
        // Graph refuses a compliance policy without a block action, so the
        // actions go in the create body; a PATCH cannot carry them.
        write: Write::PatchAndAction {
            member: "scheduledActionsForRule",
            action: "scheduleActionsForRules",
            body_key: "deviceComplianceScheduledActionForRules",
            in_create: true,
        },
        match_on: NAME_AND_TYPE,
        keyed_arrays: &[KeyedArray { member: "scheduledActionConfigurations", key: "/actionType" }],
        depends_on: &["role_scope_tag", "assignment_filter", "notification_message_template"],
        ..base(
            "compliance_policy",
            "Compliance policies",
            &[one(V1, "deviceManagement/deviceCompliancePolicies")],
            CONFIGURATION,
        )
    },
    ObjectType {
        members: Members::SingleGet { members: &["detectionScriptContent"] },
        ..base(
            "compliance_script",
            "Custom compliance discovery scripts",
            &[one(Beta, "deviceManagement/deviceComplianceScripts")],
            CONFIGURATION,
        )
    },
    ObjectType {
        members: Members::Expand {
            member: "localizedNotificationMessages",
            query: "$expand=localizedNotificationMessages",
        },
        write: Write::PatchAndItems { member: "localizedNotificationMessages", key: "locale" },
        keyed_arrays: &[KeyedArray { member: "localizedNotificationMessages", key: "/locale" }],
        depends_on: &["role_scope_tag"],
        ..base(
            "notification_message_template",
            "Compliance notification message templates",
            &[one(Beta, "deviceManagement/notificationMessageTemplates")],
            SERVICE_CONFIG,
        )
    },
    // --- Software updates ----------------------------------------------------
    ObjectType {
        // Beta: the ring's newer settings (Windows 11 upgrade, update weeks) are beta-only.
        type_filter: TypeFilter::Only(&[UPDATE_RING]),
        assignments: ASSIGN_CONFIGURATION,
        depends_on: POLICY_DEPENDENCIES,
        ..base(
            "windows_update_ring",
            "Windows Update rings",
            &[one(Beta, "deviceManagement/deviceConfigurations")],
            CONFIGURATION,
        )
    },
    ObjectType {
        assignments: assign("assignments", "#microsoft.graph.windowsFeatureUpdateProfileAssignment"),
        extra_server_managed: &["endOfSupportDate", "deployableContentDisplayName"],
        depends_on: POLICY_DEPENDENCIES,
        ..base(
            "windows_feature_update_profile",
            "Windows feature update profiles",
            &[one(Beta, "deviceManagement/windowsFeatureUpdateProfiles")],
            CONFIGURATION,
        )
    },
    ObjectType {
        assignments: assign("assignments", "#microsoft.graph.windowsQualityUpdateProfileAssignment"),
        extra_server_managed: &["deployableContentDisplayName", "releaseDateDisplayName"],
        depends_on: POLICY_DEPENDENCIES,
        ..base(
            "windows_quality_update_profile",
            "Windows quality update profiles (expedited)",
            &[one(Beta, "deviceManagement/windowsQualityUpdateProfiles")],
            CONFIGURATION,
        )
    },
    ObjectType {
        assignments: assign("assignments", "#microsoft.graph.windowsDriverUpdateProfileAssignment"),
        extra_server_managed: &["newUpdates", "deviceReporting", "inventorySyncStatus"],
        depends_on: POLICY_DEPENDENCIES,
        ..base(
            "windows_driver_update_profile",
            "Windows driver update profiles",
            &[one(Beta, "deviceManagement/windowsDriverUpdateProfiles")],
            CONFIGURATION,
        )
    },
    // --- Scripts ---------------------------------------------------------------
    ObjectType {
        members: Members::SingleGet { members: &["scriptContent"] },
        assignments: ASSIGN_SCRIPT,
        depends_on: POLICY_DEPENDENCIES,
        ..base(
            "device_management_script",
            "Windows PowerShell scripts",
            &[one(Beta, "deviceManagement/deviceManagementScripts")],
            CONFIGURATION,
        )
    },
    ObjectType {
        members: Members::SingleGet { members: &["detectionScriptContent", "remediationScriptContent"] },
        assignments: assign("deviceHealthScriptAssignments", "#microsoft.graph.deviceHealthScriptAssignment"),
        extra_server_managed: &["isGlobalScript", "highestAvailableVersion"],
        depends_on: POLICY_DEPENDENCIES,
        ..base(
            "proactive_remediation",
            "Remediations (proactive remediation scripts)",
            &[one(Beta, "deviceManagement/deviceHealthScripts")],
            CONFIGURATION,
        )
    },
    ObjectType {
        members: Members::SingleGet { members: &["scriptContent"] },
        assignments: ASSIGN_SCRIPT,
        depends_on: POLICY_DEPENDENCIES,
        ..base(
            "macos_shell_script",
            "macOS shell scripts",
            &[one(Beta, "deviceManagement/deviceShellScripts")],
            CONFIGURATION,
        )
    },
    ObjectType {
        members: Members::SingleGet { members: &["scriptContent"] },
        assignments: ASSIGN_SCRIPT,
        depends_on: POLICY_DEPENDENCIES,
        ..base(
            "custom_attribute_script",
            "macOS custom attribute scripts",
            &[one(Beta, "deviceManagement/deviceCustomAttributeShellScripts")],
            CONFIGURATION,
        )
    },
    // --- Apps ------------------------------------------------------------------
    ObjectType {
        collections: &[
            Collection {
                version: V1,
                path: "deviceAppManagement/iosManagedAppProtections",
                item_type: Some("#microsoft.graph.iosManagedAppProtection"),
            },
            Collection {
                version: V1,
                path: "deviceAppManagement/androidManagedAppProtections",
                item_type: Some("#microsoft.graph.androidManagedAppProtection"),
            },
        ],
        assignments: ASSIGN_MANAGED_APP,
        extra_server_managed: &["deployedAppCount", "isAssigned"],
        match_on: NAME_AND_TYPE,
        depends_on: POLICY_DEPENDENCIES,
        ..base("app_protection_policy", "App protection policies (iOS, Android)", &[], APPS)
    },
    ObjectType {
        collections: &[Collection {
            version: Beta,
            path: "deviceAppManagement/windowsManagedAppProtections",
            item_type: Some("#microsoft.graph.windowsManagedAppProtection"),
        }],
        assignments: ASSIGN_MANAGED_APP,
        extra_server_managed: &["deployedAppCount", "isAssigned"],
        depends_on: POLICY_DEPENDENCIES,
        ..base("windows_app_protection_policy", "App protection policies (Windows)", &[], APPS)
    },
    ObjectType {
        assignments: assign("assignments", "#microsoft.graph.managedDeviceMobileAppConfigurationAssignment"),
        match_on: NAME_AND_TYPE,
        depends_on: POLICY_DEPENDENCIES,
        ..base(
            "managed_device_app_configuration",
            "App configuration policies (managed devices)",
            &[one(V1, "deviceAppManagement/mobileAppConfigurations")],
            APPS,
        )
    },
    ObjectType {
        members: Members::Expand { member: "apps", query: "$expand=apps" },
        assignments: ASSIGN_MANAGED_APP,
        write: Write::PatchAndAction { member: "apps", action: "targetApps", body_key: "apps", in_create: false },
        extra_server_managed: &["deployedAppCount", "isAssigned"],
        keyed_arrays: &[KeyedArray { member: "apps", key: "/id" }],
        depends_on: POLICY_DEPENDENCIES,
        ..base(
            "targeted_managed_app_configuration",
            "App configuration policies (managed apps)",
            &[one(V1, "deviceAppManagement/targetedManagedAppConfigurations")],
            APPS,
        )
    },
    // --- Enrollment --------------------------------------------------------------
    ObjectType {
        assignments: Assignments::Collection {
            item_type: "#microsoft.graph.windowsAutopilotDeploymentProfileAssignment",
        },
        match_on: NAME_AND_TYPE,
        depends_on: &["role_scope_tag"],
        ..base(
            "windows_autopilot_deployment_profile",
            "Windows Autopilot deployment profiles",
            &[one(Beta, "deviceManagement/windowsAutopilotDeploymentProfiles")],
            SERVICE_CONFIG,
        )
    },
    ObjectType {
        type_filter: TypeFilter::Only(&[STATUS_PAGE]),
        assignments: ASSIGN_ENROLLMENT,
        depends_on: &["role_scope_tag"],
        ..base(
            "enrollment_status_page",
            "Enrollment status pages",
            &[one(Beta, "deviceManagement/deviceEnrollmentConfigurations")],
            SERVICE_CONFIG,
        )
    },
    ObjectType {
        type_filter: TypeFilter::Except(&[STATUS_PAGE]),
        assignments: ASSIGN_ENROLLMENT,
        match_on: NAME_AND_TYPE,
        depends_on: &["role_scope_tag"],
        ..base(
            "enrollment_configuration",
            "Enrollment restrictions, limits and Windows Hello settings",
            &[one(Beta, "deviceManagement/deviceEnrollmentConfigurations")],
            SERVICE_CONFIG,
        )
    },
    ObjectType {
        depends_on: &["role_scope_tag"],
        ..base("device_category", "Device categories", &[one(Beta, "deviceManagement/deviceCategories")], CONFIGURATION)
    },
    ObjectType {
        assignments: Assignments::Collection { item_type: "#microsoft.graph.termsAndConditionsAssignment" },
        depends_on: &["role_scope_tag"],
        ..base(
            "terms_and_conditions",
            "Terms and conditions",
            &[one(V1, "deviceManagement/termsAndConditions")],
            SERVICE_CONFIG,
        )
    },
    // --- Tenant administration -------------------------------------------------
    ObjectType {
        depends_on: &["role_scope_tag"],
        ..base(
            "assignment_filter",
            "Assignment filters",
            &[one(Beta, "deviceManagement/assignmentFilters")],
            CONFIGURATION,
        )
    },
    ObjectType {
        extra_server_managed: &["isBuiltIn"],
        ..base("role_scope_tag", "Scope tags", &[one(Beta, "deviceManagement/roleScopeTags")], CONFIGURATION)
    },
    // --- Connectors and tokens (backed up and compared, never written) -----------
    ObjectType {
        write: Write::ReadOnly { reason: "a partner connection is made from the partner's console" },
        ..base(
            "device_management_partner",
            "Device management partners",
            &[one(Beta, "deviceManagement/deviceManagementPartners")],
            SERVICE_CONFIG,
        )
    },
    ObjectType {
        write: Write::ReadOnly { reason: "a compliance partner connection is made from the partner's console" },
        ..base(
            "compliance_management_partner",
            "Compliance partners",
            &[one(Beta, "deviceManagement/complianceManagementPartners")],
            SERVICE_CONFIG,
        )
    },
    ObjectType {
        write: Write::ReadOnly { reason: "a remote assistance partner is onboarded from the partner's side" },
        ..base(
            "remote_assistance_partner",
            "Remote assistance partners",
            &[one(Beta, "deviceManagement/remoteAssistancePartners")],
            SERVICE_CONFIG,
        )
    },
    ObjectType {
        singleton: true,
        name_member: "appleIdentifier",
        match_on: &[],
        write: Write::ReadOnly { reason: "the push certificate is renewed with a signing request through Apple" },
        ..base(
            "apple_push_notification_certificate",
            "Apple MDM push certificate",
            &[one(Beta, "deviceManagement/applePushNotificationCertificate")],
            SERVICE_CONFIG,
        )
    },
    ObjectType {
        name_member: "tokenName",
        members: Members::SubCollection { member: "enrollmentProfiles", query: "" },
        match_on: &["tokenName"],
        keyed_arrays: &[KeyedArray { member: "enrollmentProfiles", key: "/id" }],
        write: Write::ReadOnly {
            reason: "an automated device enrollment token is uploaded from Apple Business Manager",
        },
        ..base(
            "apple_dep_onboarding_setting",
            "Apple automated device enrollment (DEP) tokens",
            &[one(Beta, "deviceManagement/depOnboardingSettings")],
            SERVICE_CONFIG,
        )
    },
    ObjectType {
        match_on: &["appleId", "organizationName"],
        write: Write::ReadOnly { reason: "a VPP token is downloaded from Apple Business Manager and uploaded" },
        ..base("apple_vpp_token", "Apple VPP tokens", &[one(Beta, "deviceAppManagement/vppTokens")], SERVICE_CONFIG)
    },
    ObjectType {
        singleton: true,
        name_member: "ownerOrganizationName",
        match_on: &[],
        write: Write::ReadOnly { reason: "managed Google Play is bound through Google's sign-up flow" },
        ..base(
            "android_managed_store_account",
            "Managed Google Play (Android Enterprise) binding",
            &[one(Beta, "deviceManagement/androidManagedStoreAccountEnterpriseSettings")],
            SERVICE_CONFIG,
        )
    },
];
