//! Query parameters of XRPC calls, checked as the reference servers check them.

use std::collections::HashMap;

use axum::http::Uri;
use axum::response::Response;

use super::respond::invalid_request;

/// Default page size of `listRepos` and `listHosts`.
const DEFAULT_LIMIT: usize = 500;

/// Largest page size of `listRepos` and `listHosts`.
const MAX_LIMIT: usize = 1000;

/// The decoded query string (the last value wins for repeated names).
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    /// Decodes `uri`'s query.
    pub(crate) fn from_uri(uri: &Uri) -> Self {
        let query = uri.query().unwrap_or("");
        Self(
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// A parameter, if present.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A required parameter, or the 400 the reference PDS answers without it.
    // The error is the HTTP answer itself, returned straight to axum: boxing it buys nothing.
    #[allow(clippy::result_large_err)]
    pub(crate) fn require(&self, name: &str) -> Result<&str, Response> {
        self.get(name).ok_or_else(|| {
            invalid_request(&format!("Error: Params must have the property \"{name}\""))
        })
    }

    /// `limit`: 1..=1000, 500 when absent; anything else is a 400.
    // The error is the HTTP answer itself, returned straight to axum: boxing it buys nothing.
    #[allow(clippy::result_large_err)]
    pub(crate) fn limit(&self) -> Result<usize, Response> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(text) => match text.parse::<usize>() {
                Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
                Ok(_) => Err(invalid_request(&format!(
                    "Error: limit must be between 1 and {MAX_LIMIT}"
                ))),
                Err(_) => Err(invalid_request("Error: limit must be an integer")),
            },
        }
    }
}
