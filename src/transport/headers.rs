//! Which request headers carry credentials.

use reqwest::header::HeaderName;

/// Header names that carry credentials, besides the bearer token.
const CREDENTIAL_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
];

/// Whether a header carries a credential: it may not travel over plain `http://` off
/// this machine, and its value is scrubbed from answers.
pub(crate) fn is_credential_header(name: &HeaderName) -> bool {
    CREDENTIAL_HEADERS.contains(&name.as_str())
}
