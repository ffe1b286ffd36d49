//! Collections: `value` arrays chained by `@odata.nextLink`, followed whole.
//! The link is used exactly as Graph gave it (skip tokens are opaque), but
//! only if it points back at the configured Graph: the request carries our
//! bearer token, which must never go to another host.

use std::collections::HashSet;

use serde_json::Value;

use super::client::{describe, GraphClient};
use crate::ProviderError;

/// A guard against a service that never stops paging (Graph pages hold 100
/// to 1000 items, so this is far beyond any real tenant).
const MAX_PAGES: usize = 10_000;

impl GraphClient {
    /// Every item of the collection at `url`, in order, across all pages.
    pub(crate) async fn collect(&self, url: &str) -> Result<Vec<Value>, ProviderError> {
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        let mut next = Some(url.to_owned());
        while let Some(url) = next.take() {
            let what = describe(&reqwest::Method::GET, &url);
            if !seen.insert(url.clone()) || seen.len() > MAX_PAGES {
                return Err(ProviderError::Other(format!("{what}: paging does not end (a nextLink repeats)")));
            }
            let mut page = self.get(&url).await?;
            match page.get_mut("value").map(Value::take) {
                Some(Value::Array(page_items)) => items.extend(page_items),
                _ => return Err(ProviderError::Other(format!("{what}: the answer is not a collection"))),
            }
            next = match page.get("@odata.nextLink") {
                None | Some(Value::Null) => None,
                Some(Value::String(link)) if self.is_graph_url(link) => Some(link.clone()),
                Some(other) => {
                    return Err(ProviderError::Other(format!(
                        "{what}: refusing to follow a nextLink outside the configured Graph: {other}"
                    )))
                }
            };
        }
        Ok(items)
    }

    fn is_graph_url(&self, link: &str) -> bool {
        link.strip_prefix(self.config.graph_url.as_str()).is_some_and(|rest| rest.starts_with('/'))
    }
}
