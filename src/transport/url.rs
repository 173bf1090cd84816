//! The URLs a user gives (endpoint, proxy): parsed with errors that name the option, and
//! shown in messages without what may carry a credential.

use reqwest::Url;

use crate::Error;

/// The endpoint for messages: scheme, host, port and path; no query string or fragment.
/// A URL fit for messages: no query string, fragment or user info (any may carry a
/// credential).
pub(crate) fn display_endpoint(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// Parses the `http(s)://host…` URL given to option `what`; errors show it with its
/// credentials redacted, and `example`.
pub(crate) fn parse_http_url(raw: &str, what: &str, example: &str) -> Result<Url, Error> {
    let shown = redact_raw_url(raw);
    let url = Url::parse(raw).map_err(|e| {
        Error::Config(format!(
            "{what} {shown:?} is not a valid URL ({e}); give a full URL such as {example}"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Config(format!(
            "{what} scheme {:?} is not supported ({shown:?}); use an http:// or https:// URL",
            url.scheme()
        )));
    }
    if url.host().is_none() {
        return Err(Error::Config(format!(
            "{what} {shown:?} has no host; give a full URL such as {example}"
        )));
    }
    Ok(url)
}

/// A URL as the user typed it, fit for messages: cut before any query or fragment, and
/// without anything before an `@` in the authority.
pub(crate) fn redact_raw_url(raw: &str) -> String {
    let end = raw.find(['?', '#']).unwrap_or(raw.len());
    let mut shown = raw[..end].to_owned();
    let authority_start = shown.find("://").map_or(0, |i| i + 3);
    let authority_end = shown[authority_start..]
        .find('/')
        .map_or(shown.len(), |i| authority_start + i);
    if let Some(at) = shown[authority_start..authority_end].rfind('@') {
        shown.replace_range(authority_start..authority_start + at + 1, "<redacted>@");
    }
    shown
}
