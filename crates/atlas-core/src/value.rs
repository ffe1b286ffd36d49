//! Typed values: every piece of text that enters from outside — API bodies and
//! query parameters, console forms, CLI flags — becomes one of these before it
//! is stored or looked up, so the same bad value gets the same message on every
//! surface (422 over HTTP, exit 2 in the CLI) and never reaches a database
//! that would choke on it (PostgreSQL refuses NUL in text).
//!
//! The rules every text value shares:
//! - a length limit, counted in characters (Unicode scalar values);
//! - no control characters (U+0000–U+001F, U+007F–U+009F), no line or
//!   paragraph separators (U+2028, U+2029) and no bidirectional formatting
//!   characters (U+202A–U+202E, U+2066–U+2069), which can make a name shown in
//!   the audit log read differently from what it is — only `Reason`, free text,
//!   keeps tabs and line breaks;
//! - surrounding whitespace is refused, never trimmed: a value is stored
//!   exactly as given, and what you typed is what you get back;
//! - an email is lower-cased (emails compare case-insensitively), a GUID is
//!   stored in its lower-case hyphenated form: the only canonicalizations.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Characters no single-line value may hold, as a regular-expression class
/// body (ECMA-262 and Python agree on it): the OpenAPI patterns use it.
pub const FORBIDDEN_CLASS: &str = r"\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069";

/// Whitespace a value may hold inside but not at either end (control
/// characters are already forbidden): Unicode `White_Space` less the controls.
pub const EDGE_SPACE_CLASS: &str = r" \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000";

fn forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn edge_space(c: char) -> bool {
    c.is_whitespace() && !c.is_control()
}

/// Why a value was refused, with the field it was given for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValueError {
    pub field: &'static str,
    pub message: String,
}

impl ValueError {
    fn new(field: &'static str, message: String) -> ValueError {
        ValueError { field, message }
    }
}

/// A value quoted for a message: at most 40 characters, control characters
/// escaped, so that a 10 kB value or a NUL byte does not land in the answer.
pub fn quoted(value: &str) -> String {
    let mut out = String::from("`");
    for (i, c) in value.chars().enumerate() {
        if i == 40 {
            out.push('…');
            break;
        }
        if forbidden(c) {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.push('`');
    out
}

/// The checks every single-line text value shares (module doc): non-empty, at
/// most `max` characters, no forbidden characters, no surrounding whitespace.
pub fn check_line(field: &'static str, value: &str, max: usize) -> Result<(), ValueError> {
    check_common(field, value, max, forbidden)?;
    if value.starts_with(edge_space) || value.ends_with(edge_space) {
        return Err(ValueError::new(field, format!("{field} must not start or end with whitespace")));
    }
    Ok(())
}

fn check_common(field: &'static str, value: &str, max: usize, refused: fn(char) -> bool) -> Result<(), ValueError> {
    if value.is_empty() {
        return Err(ValueError::new(field, format!("{field} must not be empty")));
    }
    let len = value.chars().count();
    if len > max {
        return Err(ValueError::new(field, format!("{field} must be at most {max} characters (got {len})")));
    }
    if let Some((i, c)) = value.chars().enumerate().find(|(_, c)| refused(*c)) {
        return Err(ValueError::new(
            field,
            format!("{field} must not contain control characters (found U+{:04X} at character {})", c as u32, i + 1),
        ));
    }
    Ok(())
}

/// The JSON-schema facts of a text value, for the OpenAPI document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextSchema {
    pub min_length: usize,
    pub max_length: usize,
    /// An ECMA-262 regular expression the value matches.
    pub pattern: Option<&'static str>,
    pub format: Option<&'static str>,
    pub description: &'static str,
}

/// The pattern of a single-line value: no forbidden characters, no
/// surrounding whitespace (built from `FORBIDDEN_CLASS` and `EDGE_SPACE_CLASS`).
pub const LINE_PATTERN: &str = concat!(
    r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069 \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]",
    r"(?:[^\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]*",
    r"[^\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069 \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000])?$"
);

/// A value type: parsing, its stored text, and its schema.
macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr, $check:expr, $schema:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// What the value is called in messages.
            pub const FIELD: &'static str = $field;
            pub const MAX_LEN: usize = $max;
            pub const SCHEMA: TextSchema = $schema;

            pub fn parse(value: &str) -> Result<$name, ValueError> {
                let check: fn(&str) -> Result<String, ValueError> = $check;
                check(value).map($name)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValueError;
            fn try_from(value: String) -> Result<$name, ValueError> {
                $name::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A single-line name of `max` characters (module doc).
const fn line_schema(max: usize, description: &'static str) -> TextSchema {
    TextSchema { min_length: 1, max_length: max, pattern: Some(LINE_PATTERN), format: None, description }
}

fn line<const MAX: usize>(field: &'static str, value: &str) -> Result<String, ValueError> {
    check_line(field, value, MAX).map(|()| value.to_owned())
}

/// The longest name (tenant, workspace, role, person, token).
pub const NAME_MAX: usize = 200;

text_value!(
    /// A workspace's short name in URLs and `--workspace`: lower-case letters,
    /// digits and dashes, starting with a letter or digit.
    Slug,
    "workspace slug",
    63,
    |v| {
        check_line(Slug::FIELD, v, Slug::MAX_LEN)?;
        let first_ok = v.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !first_ok || !v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(ValueError::new(
                Slug::FIELD,
                format!(
                    "workspace slug {} may only contain lower-case letters, digits and dashes, and must start with a letter or digit",
                    quoted(v)
                ),
            ));
        }
        Ok(v.to_owned())
    },
    TextSchema {
        min_length: 1,
        max_length: 63,
        pattern: Some("^[a-z0-9][a-z0-9-]*$"),
        format: None,
        description: "Lower-case letters, digits and dashes, starting with a letter or digit.",
    }
);

text_value!(
    /// A workspace's display name.
    WorkspaceName,
    "workspace name",
    NAME_MAX,
    |v| line::<NAME_MAX>(WorkspaceName::FIELD, v),
    line_schema(NAME_MAX, "Up to 200 characters; no control characters, no surrounding whitespace.")
);

text_value!(
    /// A tenant's name, unique in its workspace.
    TenantName,
    "tenant name",
    NAME_MAX,
    |v| line::<NAME_MAX>(TenantName::FIELD, v),
    line_schema(NAME_MAX, "Unique in the workspace; up to 200 characters, no control characters, no surrounding whitespace.")
);

text_value!(
    /// A person's display name.
    DisplayName,
    "display name",
    NAME_MAX,
    |v| line::<NAME_MAX>(DisplayName::FIELD, v),
    line_schema(NAME_MAX, "Up to 200 characters; no control characters, no surrounding whitespace.")
);

text_value!(
    /// A role's name as typed: a built-in role or a custom role of the
    /// workspace (a custom role's own rules, such as not taking a built-in
    /// name, are the store's).
    RoleName,
    "role name",
    NAME_MAX,
    |v| line::<NAME_MAX>(RoleName::FIELD, v),
    line_schema(NAME_MAX, "owner, manager, operator, readonly, or a custom role of the workspace.")
);

text_value!(
    /// What an API token is for.
    TokenName,
    "token name",
    NAME_MAX,
    |v| line::<NAME_MAX>(TokenName::FIELD, v),
    line_schema(NAME_MAX, "What the token is for; up to 200 characters, no control characters, no surrounding whitespace.")
);

text_value!(
    /// The application (client) id of a provider app registration.
    ClientId,
    "client_id",
    NAME_MAX,
    |v| line::<NAME_MAX>(ClientId::FIELD, v),
    line_schema(NAME_MAX, "The app registration's application (client) id.")
);

text_value!(
    /// A provider client secret as given (sealed at once, never shown):
    /// single-line, no surrounding whitespace.
    ClientSecret,
    "client_secret",
    1024,
    |v| line::<1024>(ClientSecret::FIELD, v),
    TextSchema {
        min_length: 1,
        max_length: 1024,
        pattern: Some(LINE_PATTERN),
        format: Some("password"),
        description: "Sealed at rest and never returned.",
    }
);

/// The longest email (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;

text_value!(
    /// An email address, lower-cased: one `@`, a local part, and a domain
    /// with a dot that neither starts nor ends it.
    Email,
    "email",
    EMAIL_MAX,
    |v| {
        check_line(Email::FIELD, v, EMAIL_MAX)?;
        let e = v.to_lowercase();
        let valid = match e.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !e.chars().any(|c| c.is_whitespace() || c == ',')
                    && e.matches('@').count() == 1
            }
            None => false,
        };
        if valid {
            Ok(e)
        } else {
            Err(ValueError::new(Email::FIELD, format!("{} is not a valid email address", quoted(v))))
        }
    },
    TextSchema {
        min_length: 3,
        max_length: EMAIL_MAX,
        pattern: Some(r"^[^@\s,\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]+@[^@.\s,\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069][^@\s,\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]*\.[^@.\s,\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]+$"),
        format: Some("email"),
        description: "Compared case-insensitively and stored lower-case.",
    }
);

text_value!(
    /// An IANA time zone (`UTC`, `Europe/Berlin`).
    TimeZone,
    "time zone",
    64,
    |v| {
        check_line(TimeZone::FIELD, v, 64)?;
        match v.parse::<chrono_tz::Tz>() {
            Ok(_) => Ok(v.to_owned()),
            Err(_) => Err(ValueError::new(
                TimeZone::FIELD,
                format!("{} is not a known IANA time zone (e.g. UTC, Europe/Berlin)", quoted(v)),
            )),
        }
    },
    TextSchema {
        min_length: 1,
        max_length: 64,
        pattern: Some(r"^[A-Za-z][A-Za-z0-9_+/-]*$"),
        format: None,
        description: "An IANA time zone such as UTC or Europe/Berlin.",
    }
);

impl TimeZone {
    /// The default zone of a schedule.
    pub fn utc() -> TimeZone {
        TimeZone("UTC".to_owned())
    }
}

text_value!(
    /// A cron expression of five fields: minute hour day-of-month month
    /// day-of-week (`CronExpr::parse_with_seconds` for a sixth, leading
    /// seconds field, which only tests may allow).
    CronExpr,
    "cron expression",
    120,
    |v| cron(v, false),
    TextSchema {
        min_length: 9,
        max_length: 120,
        pattern: Some(r"^[0-9A-Za-z*,/?#LW-]+( [0-9A-Za-z*,/?#LW-]+){4}$"),
        format: None,
        description: "Five fields separated by single spaces: minute hour day-of-month month day-of-week.",
    }
);

impl CronExpr {
    /// Five fields, or six with a leading seconds field when `allow_seconds`.
    pub fn parse_with_seconds(value: &str, allow_seconds: bool) -> Result<CronExpr, ValueError> {
        cron(value, allow_seconds).map(CronExpr)
    }
}

fn cron(v: &str, allow_seconds: bool) -> Result<String, ValueError> {
    let field = CronExpr::FIELD;
    check_line(field, v, CronExpr::MAX_LEN)?;
    let fields: Vec<&str> = v.split(' ').collect();
    if fields.iter().any(|f| f.is_empty()) || v.chars().any(|c| c.is_whitespace() && c != ' ') {
        return Err(ValueError::new(
            field,
            format!("cron expression {} must separate its fields by single spaces", quoted(v)),
        ));
    }
    let n = fields.len();
    if n != 5 && !(allow_seconds && n == 6) {
        return Err(ValueError::new(field, format!("cron expression {} must have 5 fields, not {n}", quoted(v))));
    }
    // croner reads a sixth field as seconds; the count is checked above.
    match v.parse::<croner::Cron>() {
        Ok(_) => Ok(v.to_owned()),
        Err(e) => Err(ValueError::new(field, format!("invalid cron expression {}: {e}", quoted(v)))),
    }
}

/// Free text a person writes (a reason for a refusal, say): tabs and line
/// breaks allowed, other control characters not, surrounding whitespace kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Reason(String);

impl Reason {
    pub const FIELD: &'static str = "reason";
    pub const MAX_LEN: usize = 2000;

    pub fn parse(value: &str) -> Result<Reason, ValueError> {
        let refused = |c: char| forbidden(c) && !matches!(c, '\t' | '\n' | '\r');
        check_common(Reason::FIELD, value, Reason::MAX_LEN, refused).map(|()| Reason(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Reason {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Reason, ValueError> {
        Reason::parse(&value)
    }
}

impl From<Reason> for String {
    fn from(v: Reason) -> String {
        v.0
    }
}

/// A new password: 8 to 256 characters, no control characters. Surrounding
/// spaces are part of a secret, so they are kept. Messages never show it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Password(String);

impl Password {
    pub const FIELD: &'static str = "password";
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 256;

    pub fn parse(value: &str) -> Result<Password, ValueError> {
        let field = Password::FIELD;
        let len = value.chars().count();
        if len < Password::MIN_LEN {
            return Err(ValueError::new(field, format!("a password needs at least {} characters", Password::MIN_LEN)));
        }
        if len > Password::MAX_LEN {
            return Err(ValueError::new(
                field,
                format!("a password may have at most {} characters", Password::MAX_LEN),
            ));
        }
        if value.chars().any(forbidden) {
            return Err(ValueError::new(field, "a password must not contain control characters".into()));
        }
        Ok(Password(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

impl TryFrom<String> for Password {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Password, ValueError> {
        Password::parse(&value)
    }
}

/// A GUID as a provider names a tenant (an Entra tenant id): the 36-character
/// hyphenated form, stored lower-case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Guid(Uuid);

impl Guid {
    pub fn parse(field: &'static str, value: &str) -> Result<Guid, ValueError> {
        let hyphenated = value.len() == 36 && value.bytes().filter(|b| *b == b'-').count() == 4;
        match Uuid::parse_str(value) {
            Ok(u) if hyphenated => Ok(Guid(u)),
            _ => Err(ValueError::new(
                field,
                format!("{field} {} is not a GUID (like 00000000-0000-0000-0000-000000000000)", quoted(value)),
            )),
        }
    }

    pub fn uuid(self) -> Uuid {
        self.0
    }
}

impl TryFrom<String> for Guid {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Guid, ValueError> {
        Guid::parse("external tenant id", &value)
    }
}

impl From<Guid> for String {
    fn from(g: Guid) -> String {
        g.0.to_string()
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How long a token lives: `90m`, `12h`, `30d` (a whole number and a unit),
/// from one minute to 366 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Lifetime(Duration);

impl Lifetime {
    pub const FIELD: &'static str = "expires_in";
    pub const PATTERN: &'static str = "^[1-9][0-9]{0,5}[mhd]$";
    const MAX: Duration = Duration::from_secs(366 * 86_400);

    pub fn parse(value: &str) -> Result<Lifetime, ValueError> {
        let bad = || {
            ValueError::new(
                Lifetime::FIELD,
                format!("expires_in {} is not a lifetime like 90m, 12h or 30d (one minute to 366 days)", quoted(value)),
            )
        };
        let unit = value.chars().last().ok_or_else(bad)?;
        let digits = &value[..value.len() - unit.len_utf8()];
        if digits.is_empty()
            || digits.len() > 6
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let secs = match unit {
            'm' => n * 60,
            'h' => n * 3600,
            'd' => n * 86_400,
            _ => return Err(bad()),
        };
        let d = Duration::from_secs(secs);
        if d > Lifetime::MAX {
            return Err(bad());
        }
        Ok(Lifetime(d))
    }

    pub fn duration(self) -> Duration {
        self.0
    }
}

impl TryFrom<String> for Lifetime {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Lifetime, ValueError> {
        Lifetime::parse(&value)
    }
}

impl From<Lifetime> for String {
    fn from(l: Lifetime) -> String {
        let s = l.0.as_secs();
        if s.is_multiple_of(86_400) {
            format!("{}d", s / 86_400)
        } else if s.is_multiple_of(3600) {
            format!("{}h", s / 3600)
        } else {
            format!("{}m", s / 60)
        }
    }
}

/// A search or filter value from a query string (an audit action, say):
/// single-line text of at most 200 characters. Query values are filters,
/// not stored: an empty one means "no filter" and surrounding whitespace is
/// ignored, as an HTML form sends them.
pub fn filter_text(field: &'static str, value: Option<&str>) -> Result<Option<String>, ValueError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => check_line(field, v, NAME_MAX).map(|()| Some(v.to_owned())),
    }
}

#[cfg(test)]
mod tests;
