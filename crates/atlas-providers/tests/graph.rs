//! The Microsoft Graph provider against a local fake Graph (wiremock)
//! answering with the project's Graph-shaped fixtures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod graph_support;

use std::collections::HashSet;
use std::time::Duration;

use atlas_providers::graph::secret::{self, SecretString};
use atlas_providers::graph::{GraphConfig, GraphProvider, REQUIRED_PERMISSIONS};
use atlas_providers::{Provider, ProviderError, UpdateOutcome};
use graph_support::*;
use serde_json::{json, Value};
use wiremock::matchers::{body_json, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};

/// A registered object type by key.
fn ty(key: &str) -> atlas_providers::Kind {
    atlas_providers::object_type::by_key(key).unwrap()
}

const CONFIGS: &str = "/v1.0/deviceManagement/deviceConfigurations";
const BASELINE: &str = "8d4d2cd6-1c9c-4db1-937d-d03b94b09201";

#[tokio::test]
async fn one_token_serves_many_calls_until_shortly_before_it_expires() {
    let fake = Fake::start().await;
    fake.token(&fixture_token(), 2).await;
    serve(&fake, "/beta/deviceManagement/roleScopeTags", fixture!("beta_deviceManagement_roleScopeTags.json")).await;
    for _ in 0..3 {
        let tags = fake.provider.list_objects(ty("role_scope_tag")).await.unwrap();
        assert_eq!(tags.len(), 3);
    }
    assert_eq!(fake.requests().await.iter().filter(|r| **r == token_request()).count(), 1);
    // expires_in 3599 s: still cached just before the 5-minute margin, renewed after it.
    fake.clock.advance(Duration::from_secs(3599 - 300 - 1));
    fake.provider.list_objects(ty("role_scope_tag")).await.unwrap();
    assert_eq!(fake.requests().await.iter().filter(|r| **r == token_request()).count(), 1);
    fake.clock.advance(Duration::from_secs(2));
    fake.provider.list_objects(ty("role_scope_tag")).await.unwrap();
    fake.server.verify().await;
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_retries_with_the_new_one() {
    let fake = Fake::start().await;
    let (old, new) = (token_with_roles(&["Old"]), token_with_roles(&["New"]));
    fake.token_mock(&old).up_to_n_times(1).expect(1).mount(&fake.server).await;
    fake.token_mock(&new).expect(1).mount(&fake.server).await;
    Mock::given(path("/v1.0/groups/0ef519ec-7d02-4ffe-8b8a-cc079f7fce21"))
        .and(bearer(&old))
        .respond_with(json_response(401, &fixture!("error_401_InvalidAuthenticationToken.json")))
        .expect(1)
        .mount(&fake.server)
        .await;
    Mock::given(path("/v1.0/groups/0ef519ec-7d02-4ffe-8b8a-cc079f7fce21"))
        .and(bearer(&new))
        .respond_with(json_response(200, &json!({"id": "0ef519ec-7d02-4ffe-8b8a-cc079f7fce21"})))
        .expect(1)
        .mount(&fake.server)
        .await;
    assert!(fake.provider.group_exists("0ef519ec-7d02-4ffe-8b8a-cc079f7fce21").await.unwrap());
    fake.server.verify().await;
}

#[tokio::test]
async fn a_second_401_is_unauthorized_and_not_retried_again() {
    let fake = Fake::start().await;
    fake.token(&fixture_token(), 2).await;
    Mock::given(path(CONFIGS))
        .respond_with(json_response(401, &fixture!("error_401_InvalidAuthenticationToken.json")))
        .expect(2)
        .mount(&fake.server)
        .await;
    let err = fake.provider.list_objects(ty("device_configuration")).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Unauthorized(m) if m.contains("InvalidAuthenticationToken")), "{err:?}");
    assert!(!err.retryable());
    fake.server.verify().await;
}

#[tokio::test]
async fn paging_follows_every_next_link_without_loss_or_duplication() {
    let fake = Fake::start().await;
    fake.token(&fixture_token(), 1).await;
    let link = |token: &str| fake.url(&format!("{CONFIGS}?$top=5&$skiptoken={token}"));
    // Page 1 is the fixture, its nextLink pointed at the fake; three generated
    // pages of 20 follow; the fixture's page 2 (no nextLink) ends the list.
    let mut first = fixture!("v1.0_deviceManagement_deviceConfigurations_page1.json");
    let fixture_link = first["@odata.nextLink"].as_str().unwrap().to_owned();
    first["@odata.nextLink"] = json!(fixture_link.replace("https://graph.microsoft.com", &fake.server.uri()));
    let fixture_skiptoken = "RmFicmlrYW1GaXh0dXJlUGFnZTI";
    let last = fixture!("v1.0_deviceManagement_deviceConfigurations_page2.json");
    let (a, a_ids) = generated_page(0, 20, Some(link("gen-b")));
    let (b, b_ids) = generated_page(20, 20, Some(link("gen-c")));
    let (c, c_ids) = generated_page(40, 20, Some(link("gen-last")));
    let mut expected = ids_of(&first);
    expected.extend(a_ids.into_iter().chain(b_ids).chain(c_ids));
    expected.extend(ids_of(&last));

    let page = |p: Option<&str>, body: Value| {
        let mock = Mock::given(method("GET")).and(path(CONFIGS));
        let mock = match p {
            Some(token) => mock.and(query_param("$skiptoken", token)),
            None => mock.and(query_param_is_missing("$skiptoken")),
        };
        mock.respond_with(json_response(200, &body)).expect(1)
    };
    for (token, body) in
        [(None, first), (Some(fixture_skiptoken), a), (Some("gen-b"), b), (Some("gen-c"), c), (Some("gen-last"), last)]
    {
        page(token, body).mount(&fake.server).await;
    }

    let objects = fake.provider.list_objects(ty("device_configuration")).await.unwrap();
    let got: Vec<String> = objects.iter().map(|o| o.id.clone()).collect();
    assert_eq!(got.len(), 68);
    assert_eq!(got, expected, "every item once, in page order");
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 68);
    let first = &objects[0];
    assert_eq!(first.display_name, "[Baseline] Windows - Device Restrictions");
    assert_eq!(first.payload["passwordMinimumLength"], 8, "the full payload is kept");
    fake.server.verify().await;
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let fake = Fake::start().await;
    fake.token(&fixture_token(), 1).await;
    serve(&fake, CONFIGS, fixture!("v1.0_deviceManagement_deviceConfigurations_page1.json")).await;
    let err = fake.provider.list_objects(ty("device_configuration")).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Other(m) if m.contains("nextLink")), "{err:?}");
}

#[tokio::test]
async fn a_429_waits_as_long_as_retry_after_says() {
    let fake = Fake::start().await;
    fake.token(&fixture_token(), 1).await;
    Mock::given(path(CONFIGS))
        .respond_with(
            json_response(429, &fixture!("error_429_TooManyRequests.json")).insert_header("Retry-After", "10"),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&fake.server)
        .await;
    serve(&fake, CONFIGS, fixture!("v1.0_deviceManagement_deviceConfigurations_page2.json")).await;
    let objects = fake.provider.list_objects(ty("device_configuration")).await.unwrap();
    assert_eq!(objects.len(), 3);
    assert_eq!(fake.clock.sleeps(), vec![Duration::from_secs(10)]);
    fake.server.verify().await;
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_exponentially_then_surfaces_throttled() {
    let fake = Fake::start().await;
    fake.token(&fixture_token(), 1).await;
    Mock::given(path(CONFIGS))
        .respond_with(json_response(429, &fixture!("error_429_TooManyRequests.json")))
        .expect(4)
        .mount(&fake.server)
        .await;
    let err = fake.provider.list_objects(ty("device_configuration")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Throttled { .. }), "{err:?}");
    assert!(err.retryable());
    let sleeps = fake.clock.sleeps();
    assert_eq!(sleeps.len(), 3);
    for (i, wait) in sleeps.iter().enumerate() {
        let ceiling = Duration::from_millis(500 << i);
        assert!(*wait >= ceiling / 2 && *wait <= ceiling, "retry {i} waited {wait:?}");
    }
    fake.server.verify().await;
}

#[tokio::test]
async fn a_503_is_retried_up_to_the_bound_then_surfaces_as_transient() {
    let fake = Fake::start().await;
    fake.token(&fixture_token(), 1).await;
    Mock::given(path("/beta/deviceManagement/assignmentFilters"))
        .respond_with(ResponseTemplate::new(503))
        .expect(4)
        .mount(&fake.server)
        .await;
    let err = fake.provider.list_objects(ty("assignment_filter")).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Transient(m) if m.contains("503")), "{err:?}");
    assert!(err.retryable());
    assert_eq!(fake.clock.sleeps().len(), 3);
    fake.server.verify().await;
}

#[tokio::test]
async fn a_timeout_is_retried_then_surfaces_as_transient() {
    let fake = Fake::start_with(|c| {
        c.max_retries = 1;
        c.request_timeout = Duration::from_millis(200);
    })
    .await;
    fake.token(&fixture_token(), 1).await;
    Mock::given(path("/beta/deviceManagement/roleScopeTags"))
        .respond_with(json_response(200, &json!({"value": []})).set_delay(Duration::from_secs(3)))
        .expect(2)
        .mount(&fake.server)
        .await;
    let err = fake.provider.list_objects(ty("role_scope_tag")).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Transient(m) if m.contains("timed out")), "{err:?}");
}

#[tokio::test]
async fn a_create_is_not_repeated_when_it_may_have_been_applied() {
    let fake = Fake::start().await;
    fake.token(&fixture_token(), 1).await;
    let payload = json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration", "displayName": "New"});
    Mock::given(method("POST"))
        .and(path(CONFIGS))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&fake.server)
        .await;
    let err = fake.provider.create_object(fence(), ty("device_configuration"), &payload).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Other(m) if m.contains("not repeated")), "{err:?}");
    assert!(!err.retryable(), "a retried run could make a duplicate");
    fake.server.verify().await;
}

#[tokio::test]
async fn a_throttled_create_is_repeated_after_the_wait() {
    let fake = Fake::start().await;
    fake.token(&fixture_token(), 1).await;
    let payload = json!({"@odata.type": "#microsoft.graph.windows10GeneralConfiguration", "displayName": "New"});
    Mock::given(method("POST"))
        .and(path(CONFIGS))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "2.5"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&fake.server)
        .await;
    let created = json!({"id": "a1", "displayName": "New"});
    Mock::given(method("POST"))
        .and(path(CONFIGS))
        .respond_with(json_response(201, &created))
        .expect(1)
        .mount(&fake.server)
        .await;
    let object = fake.provider.create_object(fence(), ty("device_configuration"), &payload).await.unwrap();
    assert_eq!(object.id, "a1");
    assert_eq!(fake.clock.sleeps(), vec![Duration::from_millis(2500)]);
    fake.server.verify().await;
}

#[tokio::test]
async fn a_restore_round_trip_sends_exactly_the_expected_requests() {
    let fake = Fake::start().await;
    fake.token(&fixture_token(), 1).await;
    let page1 = fixture!("v1.0_deviceManagement_deviceConfigurations_page1.json");
    let (existing, gone) = (page1["value"][0].clone(), page1["value"][1].clone());
    let gone_id = gone["id"].as_str().unwrap();
    let new_id = "5d0c8b1e-3f4a-4e7b-9c2d-1a6b8e0f7c33";

    let mut patch = writable(ty("device_configuration"), &existing);
    patch["passwordMinimumLength"] = json!(12);
    Mock::given(method("PATCH"))
        .and(path(format!("{CONFIGS}/{BASELINE}")))
        .and(body_json(&patch))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&fake.server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{CONFIGS}/{gone_id}")))
        .and(body_json(writable(ty("device_configuration"), &gone)))
        .respond_with(json_response(404, &fixture!("error_404_ResourceNotFound_intune.json")))
        .expect(1)
        .mount(&fake.server)
        .await;
    let mut created = writable(ty("device_configuration"), &gone);
    created["id"] = json!(new_id);
    Mock::given(method("POST"))
        .and(path(CONFIGS))
        .and(body_json(writable(ty("device_configuration"), &gone)))
        .respond_with(json_response(201, &created))
        .expect(1)
        .mount(&fake.server)
        .await;
    let assignments = format!("/beta/deviceManagement/deviceConfigurations/{BASELINE}/assignments");
    serve(
        &fake,
        &assignments,
        fixture!("beta_deviceManagement_deviceConfigurations_8d4d2cd6-1c9c-4db1-937d-d03b94b09201_assignments.json"),
    )
    .await;
    Mock::given(method("POST"))
        .and(path(format!("/beta/deviceManagement/deviceConfigurations/{BASELINE}/assign")))
        .and(body_json(fixture!(
            "beta_deviceManagement_deviceConfigurations_8d4d2cd6-1c9c-4db1-937d-d03b94b09201_assign.request.json"
        )))
        .respond_with(json_response(
            200,
            &fixture!(
                "beta_deviceManagement_deviceConfigurations_8d4d2cd6-1c9c-4db1-937d-d03b94b09201_assign.response.json"
            ),
        ))
        .expect(1)
        .mount(&fake.server)
        .await;

    let p = &fake.provider;
    let kind = ty("device_configuration");
    let mut edited = existing.clone();
    edited["passwordMinimumLength"] = json!(12);
    let UpdateOutcome::Updated(updated) = p.update_object(fence(), kind, BASELINE, &edited).await.unwrap() else {
        panic!("the baseline exists");
    };
    assert_eq!((updated.id.as_str(), updated.payload["passwordMinimumLength"].as_i64()), (BASELINE, Some(12)));
    assert_eq!(p.update_object(fence(), kind, gone_id, &gone).await.unwrap(), UpdateOutcome::Gone);
    let recreated = p.create_object(fence(), kind, &gone).await.unwrap();
    assert_eq!(recreated.id, new_id);
    assert_eq!(recreated.display_name, gone["displayName"].as_str().unwrap());

    // Desired set: the pilot ring replaced by the broad ring (as the fixture's request).
    let mut desired = p.list_assignments(kind, BASELINE).await.unwrap();
    assert_eq!(desired.len(), 4);
    desired[1] = json!({"target": {
        "@odata.type": "#microsoft.graph.groupAssignmentTarget",
        "deviceAndAppManagementAssignmentFilterId": null,
        "deviceAndAppManagementAssignmentFilterType": "none",
        "groupId": "117b86a0-c2d2-446a-b2a9-20ac45a37935"
    }});
    p.set_assignments(fence(), kind, BASELINE, &desired).await.unwrap();

    fake.server.verify().await;
    assert_eq!(
        fake.requests().await,
        vec![
            token_request(),
            request("PATCH", &format!("{CONFIGS}/{BASELINE}")),
            request("PATCH", &format!("{CONFIGS}/{gone_id}")),
            request("POST", CONFIGS),
            request("GET", &assignments),
            request("POST", &format!("/beta/deviceManagement/deviceConfigurations/{BASELINE}/assign")),
        ]
    );
}

#[tokio::test]
async fn settings_catalog_policies_carry_their_settings_and_are_replaced_with_put() {
    let fake = Fake::start().await;
    fake.token(&fixture_token(), 1).await;
    let base = "/beta/deviceManagement/configurationPolicies";
    serve(&fake, base, fixture!("beta_deviceManagement_configurationPolicies.json")).await;
    serve(
        &fake,
        &format!("{base}/9cb2b211-8b18-442f-a535-ce8771a3bb5a/settings"),
        fixture!("beta_deviceManagement_configurationPolicies_9cb2b211-8b18-442f-a535-ce8771a3bb5a_settings.json"),
    )
    .await;
    serve(
        &fake,
        &format!("{base}/78a8ddaa-f74d-4e01-ba2c-55a884b9eb71/settings"),
        fixture!("beta_deviceManagement_configurationPolicies_78a8ddaa-f74d-4e01-ba2c-55a884b9eb71_settings.json"),
    )
    .await;
    for id in ["d2b3d9c9-22e8-49c1-965f-257e4c61034a", "7e5f376f-6a34-459d-a1e0-46a88061cd91"] {
        serve(&fake, &format!("{base}/{id}/settings"), json!({"value": []})).await;
    }
    let policies = fake.provider.list_objects(ty("configuration_policy")).await.unwrap();
    assert_eq!(policies.len(), 4);
    let bitlocker = policies.iter().find(|p| p.id == "9cb2b211-8b18-442f-a535-ce8771a3bb5a").unwrap();
    assert_eq!(bitlocker.display_name, "[Baseline] Windows - BitLocker", "named by `name`");
    let settings =
        &fixture!("beta_deviceManagement_configurationPolicies_9cb2b211-8b18-442f-a535-ce8771a3bb5a_settings.json")
            ["value"];
    assert_eq!(&bitlocker.payload["settings"], settings);

    Mock::given(method("PUT"))
        .and(path(format!("{base}/{}", bitlocker.id)))
        .and(body_json(writable(ty("configuration_policy"), &bitlocker.payload)))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&fake.server)
        .await;
    let outcome =
        fake.provider.update_object(fence(), ty("configuration_policy"), &bitlocker.id, &bitlocker.payload).await;
    assert!(matches!(outcome, Ok(UpdateOutcome::Updated(_))), "{outcome:?}");
    fake.server.verify().await;
}

#[tokio::test]
async fn scripts_get_their_content_and_app_protection_policies_their_platform() {
    let fake = Fake::start().await;
    fake.token(&fixture_token(), 1).await;
    let scripts = "/beta/deviceManagement/deviceManagementScripts";
    serve(&fake, scripts, fixture!("beta_deviceManagement_deviceManagementScripts.json")).await;
    let full = fixture!("beta_deviceManagement_deviceManagementScripts_c98d5944-9f97-4362-8e97-b27d3cd9d890.json");
    serve(&fake, &format!("{scripts}/c98d5944-9f97-4362-8e97-b27d3cd9d890"), full.clone()).await;
    let mut other = fixture!("beta_deviceManagement_deviceManagementScripts.json")["value"][1].clone();
    other["scriptContent"] = json!("V3JpdGUtT3V0cHV0ICJoaSIK");
    serve(&fake, &format!("{scripts}/3f3214a6-26ab-4f3b-bbfd-7e3b0c8db8c1"), other).await;
    let listed = fake.provider.list_objects(ty("device_management_script")).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].payload["scriptContent"], full["scriptContent"]);
    assert!(listed[0].payload.get("@odata.context").is_none());
    assert_eq!(listed[1].payload["scriptContent"], "V3JpdGUtT3V0cHV0ICJoaSIK");

    serve(
        &fake,
        "/v1.0/deviceAppManagement/iosManagedAppProtections",
        fixture!("v1.0_deviceAppManagement_iosManagedAppProtections.json"),
    )
    .await;
    serve(
        &fake,
        "/v1.0/deviceAppManagement/androidManagedAppProtections",
        fixture!("v1.0_deviceAppManagement_androidManagedAppProtections.json"),
    )
    .await;
    let mam = fake.provider.list_objects(ty("app_protection_policy")).await.unwrap();
    let types: Vec<&str> = mam.iter().map(|o| o.payload["@odata.type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "#microsoft.graph.iosManagedAppProtection",
            "#microsoft.graph.iosManagedAppProtection",
            "#microsoft.graph.androidManagedAppProtection",
            "#microsoft.graph.androidManagedAppProtection"
        ]
    );

    // Created in the collection its type names.
    let android = mam[2].payload.clone();
    let mut created = writable(ty("app_protection_policy"), &android);
    created["id"] = json!("T_new");
    Mock::given(method("POST"))
        .and(path("/v1.0/deviceAppManagement/androidManagedAppProtections"))
        .and(body_json(writable(ty("app_protection_policy"), &android)))
        .respond_with(json_response(201, &created))
        .expect(1)
        .mount(&fake.server)
        .await;
    assert_eq!(fake.provider.create_object(fence(), ty("app_protection_policy"), &android).await.unwrap().id, "T_new");
    fake.server.verify().await;
}

#[tokio::test]
async fn not_found_and_forbidden_answers_map_to_the_providers_errors() {
    let fake = Fake::start().await;
    fake.token(&fixture_token(), 1).await;
    let missing = "0d6c2b7e-5a41-4c3e-9f0b-8e2d7a1c4b99";
    Mock::given(path(format!("{CONFIGS}/{missing}")))
        .respond_with(json_response(404, &fixture!("error_404_ResourceNotFound_intune.json")))
        .mount(&fake.server)
        .await;
    assert_eq!(fake.provider.get_object(ty("device_configuration"), missing).await.unwrap(), None);

    Mock::given(path("/v1.0/groups/c1f0a9d2-3b4e-4f5a-8c6d-7e8f9a0b1c2d"))
        .respond_with(json_response(404, &fixture!("error_404_Request_ResourceNotFound_directory.json")))
        .mount(&fake.server)
        .await;
    assert!(!fake.provider.group_exists("c1f0a9d2-3b4e-4f5a-8c6d-7e8f9a0b1c2d").await.unwrap());

    Mock::given(path("/v1.0/groups/23340e86-f3d9-4d41-8fd1-dbcb4f2e97dc"))
        .respond_with(json_response(403, &fixture!("error_403_Authorization_RequestDenied.json")))
        .mount(&fake.server)
        .await;
    let err = fake.provider.group_exists("23340e86-f3d9-4d41-8fd1-dbcb4f2e97dc").await.unwrap_err();
    assert!(matches!(&err, ProviderError::Unauthorized(m) if m.contains("Group.Read.All")), "{err:?}");

    Mock::given(path(CONFIGS))
        .respond_with(json_response(403, &fixture!("error_403_Forbidden_intune.json")))
        .mount(&fake.server)
        .await;
    let err = fake.provider.list_objects(ty("device_configuration")).await.unwrap_err();
    let ProviderError::Unauthorized(message) = &err else { panic!("{err:?}") };
    assert!(message.contains("missing permission DeviceManagementConfiguration.ReadWrite.All"), "{message}");
    assert!(!message.contains("_version"), "Intune's inner message is unwrapped: {message}");
}

#[tokio::test]
async fn compliance_summaries_come_from_each_policys_device_status_overview() {
    let fake = Fake::start().await;
    fake.token(&fixture_token(), 1).await;
    let base = "/v1.0/deviceManagement/deviceCompliancePolicies";
    serve(&fake, base, fixture!("v1.0_deviceManagement_deviceCompliancePolicies.json")).await;
    serve(&fake, &format!("{base}/fbabfd63-cc3a-4bd6-85b7-4005ca855dc8/deviceStatusOverview"), fixture!("v1.0_deviceManagement_deviceCompliancePolicies_fbabfd63-cc3a-4bd6-85b7-4005ca855dc8_deviceStatusOverview.json")).await;
    Mock::given(method("GET"))
        .respond_with(json_response(404, &fixture!("error_404_ResourceNotFound_intune.json")))
        .with_priority(10)
        .mount(&fake.server)
        .await;
    let summaries = fake.provider.compliance_summaries().await.unwrap();
    assert_eq!(summaries.len(), 4);
    let windows = &summaries[0];
    assert_eq!(windows.display_name, "[Baseline] Windows - Compliance");
    assert_eq!((windows.compliant, windows.non_compliant, windows.error, windows.not_applicable), (118, 7, 1, 3));
    assert!(summaries[1..].iter().all(|s| s.compliant + s.non_compliant + s.error + s.not_applicable == 0));
}

#[tokio::test]
async fn the_health_check_names_a_permission_the_token_lacks() {
    let fake = Fake::start().await;
    fake.token(&token_with_roles(&REQUIRED_PERMISSIONS[..3]), 1).await;
    let health = fake.provider.check_health().await.unwrap();
    assert!(!health.ok);
    assert_eq!(health.missing_permissions, ["Group.Read.All"]);
    assert!(health.message.contains("Group.Read.All"), "{}", health.message);
    assert_eq!(fake.requests().await, vec![token_request()], "the check reads the token's roles, nothing else");

    let fake = Fake::start().await;
    fake.token(&fixture_token(), 1).await;
    let health = fake.provider.check_health().await.unwrap();
    assert!(health.ok, "{}", health.message);
    assert!(health.missing_permissions.is_empty());
    assert_eq!(health.details["token_tenant_id"], TENANT);
}

#[tokio::test]
async fn a_refused_token_request_is_an_unhealthy_connection_and_never_echoes_the_secret() {
    let fake = Fake::start().await;
    let refusal = json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 0"});
    Mock::given(method("POST")).respond_with(json_response(401, &refusal)).mount(&fake.server).await;
    let health = fake.provider.check_health().await.unwrap();
    assert!(!health.ok);
    assert!(health.message.contains("AADSTS7000215"), "{}", health.message);
    let err = fake.provider.list_objects(ty("role_scope_tag")).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized(_)), "{err:?}");
    let shown = format!("{health:?} {err} {err:?} {:?} {:?}", fake.provider, fake.provider.config());
    assert!(!shown.contains(SECRET), "{shown}");
}

#[test]
fn sealed_secrets_open_with_their_key_only() {
    let key = [7u8; 32];
    let sealed = secret::seal(&key, SECRET).unwrap();
    assert!(!sealed.contains(SECRET));
    assert_ne!(sealed, secret::seal(&key, SECRET).unwrap(), "a fresh nonce per seal");
    assert_eq!(secret::open(&key, &sealed).unwrap().expose(), SECRET);
    assert!(matches!(secret::open(&[8u8; 32], &sealed), Err(secret::SecretError::Open)));
    let mut tampered = sealed.into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    assert!(secret::open(&key, std::str::from_utf8(&tampered).unwrap()).is_err());
    assert!(matches!(secret::open(&key, "AAAA"), Err(secret::SecretError::Truncated)));
}

#[test]
fn secrets_and_keys_never_show_in_debug_or_display() {
    let config = GraphConfig::new(TENANT, CLIENT_ID, SecretString::new(SECRET));
    let provider = GraphProvider::new(config.clone()).unwrap();
    for shown in [format!("{config:?}"), format!("{provider:?}"), format!("{}", config.client_secret)] {
        assert!(!shown.contains(SECRET), "{shown}");
    }
    let key = secret::parse_key(&"ab".repeat(32)).unwrap();
    assert!(!format!("{key:?}").contains("abab"));
}

#[test]
fn keys_parse_from_hex_or_base64_and_are_generated_once_into_a_private_file() {
    let hex_key = secret::parse_key(&"0f".repeat(32)).unwrap();
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [0x0f_u8; 32]);
    assert_eq!(secret::parse_key(&b64).unwrap(), hex_key);
    assert!(secret::parse_key("too-short").is_err());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("atlas-data").join("secret.key");
    let first = secret::key_from_file(&path).unwrap();
    assert_eq!(secret::key_from_file(&path).unwrap(), first, "the stored key is reused");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let sealed = secret::seal(first.bytes(), "s").unwrap();
    assert_eq!(secret::open(secret::key_from_file(&path).unwrap().bytes(), &sealed).unwrap().expose(), "s");
}
