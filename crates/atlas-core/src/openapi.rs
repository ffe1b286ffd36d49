//! OpenAPI schemas of the value types and registries (the `openapi`
//! feature): the limits and patterns live beside the rules they describe, so
//! the document the API publishes checks what the server checks.

use std::borrow::Cow;

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::capability::Capability;
use crate::operation::OperationType;
use crate::run::{RunOutcome, RunStatus};
use crate::tenant::{ConnectionKind, TenantStatus};
use crate::value::{
    ClientId, ClientSecret, CronExpr, DisplayName, Email, Guid, Lifetime, Password, RoleName, Slug, TenantName,
    TextSchema, TimeZone, TokenName, WorkspaceName,
};

fn text(s: &TextSchema, example: &str) -> RefOr<Schema> {
    let format = s.format.map(|f| match f {
        "email" => SchemaFormat::KnownFormat(KnownFormat::Email),
        other => SchemaFormat::Custom(other.to_owned()),
    });
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(s.min_length))
        .max_length(Some(s.max_length))
        .pattern(s.pattern)
        .format(format)
        .description(Some(s.description))
        .examples([example])
        .into()
}

macro_rules! text_schema {
    ($($ty:ident => $example:literal),+ $(,)?) => {$(
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                text(&$ty::SCHEMA, $example)
            }
        }
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($ty))
            }
        }
    )+};
}

text_schema! {
    Slug => "acme",
    WorkspaceName => "Acme MSP",
    TenantName => "Contoso North",
    DisplayName => "Jane Doe",
    RoleName => "auditor",
    TokenName => "ci pipeline",
    Email => "jane@example.com",
    TimeZone => "Europe/Berlin",
    CronExpr => "0 2 * * *",
    ClientId => "11111111-2222-3333-4444-555555555555",
    ClientSecret => "…",
}

impl PartialSchema for Guid {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
            .min_length(Some(36))
            .max_length(Some(36))
            .pattern(Some("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"))
            .description(Some("A GUID in its 36-character form, such as an Entra tenant id."))
            .examples(["6f3c0f0e-8d5b-4c4b-9c8a-2b1e0f3d4a5b"])
            .into()
    }
}

impl ToSchema for Guid {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Guid")
    }
}

impl PartialSchema for Lifetime {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(Lifetime::PATTERN))
            .description(Some("A whole number and a unit: m (minutes), h (hours) or d (days); at most 366 days."))
            .examples(["30d"])
            .into()
    }
}

impl ToSchema for Lifetime {}

impl PartialSchema for Password {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
            .min_length(Some(Password::MIN_LEN))
            .max_length(Some(Password::MAX_LEN))
            .pattern(Some(r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]*$"))
            .into()
    }
}

impl ToSchema for Password {}

fn one_of<'a>(values: impl IntoIterator<Item = &'a str>, description: &str) -> RefOr<Schema> {
    let values: Vec<&str> = values.into_iter().collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.clone()))
        .description(Some(description))
        .examples(values.first().copied())
        .into()
}

macro_rules! enum_schema {
    ($($ty:ident => $values:expr, $description:literal);+ $(;)?) => {$(
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                one_of($values, $description)
            }
        }
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($ty))
            }
        }
    )+};
}

enum_schema! {
    OperationType => OperationType::all().map(OperationType::as_str), "An operation type of the registry.";
    Capability => Capability::ALL.iter().map(|c| c.as_str()), "A capability of the registry.";
    TenantStatus => TenantStatus::ALL.iter().map(|s| s.as_str()), "A tenant's status.";
    ConnectionKind => [ConnectionKind::Sandbox.as_str(), ConnectionKind::MicrosoftGraph.as_str()], "The provider behind a connection.";
    RunStatus => RunStatus::ALL.iter().map(|s| s.as_str()), "A run's status.";
    RunOutcome => RunOutcome::ALL.iter().map(|o| o.as_str()), "A run's outcome.";
}
