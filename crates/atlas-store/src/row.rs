//! Conversions between stored text columns and domain values. A value that
//! does not parse is corruption, reported as such (never a panic).

use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use crate::{StoreError, StoreResult};

pub(crate) fn uuid(s: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| StoreError::Corrupt(format!("bad uuid `{s}`")))
}

pub(crate) fn opt_uuid(s: Option<&str>) -> StoreResult<Option<Uuid>> {
    s.map(uuid).transpose()
}

pub(crate) fn json(s: &str) -> StoreResult<Value> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("bad json: {e}")))
}

pub(crate) fn typed<T: DeserializeOwned>(s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("bad json: {e}")))
}

pub(crate) fn parse<T>(s: &str, what: &str, f: impl Fn(&str) -> Option<T>) -> StoreResult<T> {
    f(s).ok_or_else(|| StoreError::Corrupt(format!("bad {what} `{s}`")))
}
