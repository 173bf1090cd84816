//! What a user configures about the destination, and the checks that run once at build.
//!
//! [`TransportConfig`] is the raw, builder-friendly shape: a
//! [`Destination`](crate::Destination)'s endpoint, `with_bearer_token`, `with_header`,
//! `with_timeout`, … each set one field.
//! [`TransportConfig::validate`] turns it into a [`ValidatedTransport`] or an
//! [`Error::Config`] that says what to change.

use super::headers::is_credential_header;
use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Url;

use super::proxy::ProxyChoice;
use super::tls::{CheckedTls, LoadedTls, TlsMaterial, TlsOptions};
use super::Secret;
use crate::Error;

/// How long one push may take, connect to last response byte, unless configured.
/// Prometheus uses the same default for its own `remote_timeout`.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers the sender sets itself; an extra header may not use these names.
const RESERVED_HEADERS: [&str; 7] = [
    "content-encoding",
    "content-type",
    "x-prometheus-remote-write-version",
    "user-agent",
    "host",
    "content-length",
    "transfer-encoding",
];

/// How a destination proves who is pushing: the `Authorization` header's value.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// `Authorization: Basic base64(user:password)` (Grafana Cloud: the instance id and
    /// an access token).
    Basic { user: String, password: Secret },
    /// `Authorization: <value>`, as issued (an Unleash API token, say).
    Raw(Secret),
}

impl Auth {
    /// Whether it carries no credential: an empty (or blank) token or value, or basic
    /// auth whose user and password are both empty. Such auth sends no header and
    /// trips no credential check: `with_bearer_token(var.unwrap_or_default())` with the
    /// variable unset means "no token". A user with an empty password is still basic
    /// auth (some services take a token as the user alone).
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Auth::Bearer(token) => is_blank(token.expose()),
            Auth::Basic { user, password } => user.is_empty() && password.expose().is_empty(),
            Auth::Raw(value) => is_blank(value.expose()),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Auth::Bearer(_) => "bearer",
            Auth::Basic { .. } => "basic",
            Auth::Raw(_) => "authorization",
        }
    }

    /// The header value, marked sensitive so that `http`'s own `Debug` hides it.
    fn header_value(&self) -> Result<HeaderValue, Error> {
        let (text, what) = match self {
            Auth::Bearer(token) => (format!("Bearer {}", token.expose()), "the bearer token"),
            Auth::Basic { user, password } => {
                if user.contains(':') {
                    return Err(Error::Config(
                        "the basic-auth user contains ':', which basic auth cannot carry; \
                         check the user (for Grafana Cloud, the numeric instance id)"
                            .to_owned(),
                    ));
                }
                use base64::Engine as _;
                let pair = format!("{user}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                (format!("Basic {encoded}"), "the basic-auth value")
            }
            Auth::Raw(value) => (value.expose().to_owned(), "the authorization value"),
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            Error::Config(format!(
                "{what} contains characters not allowed in an HTTP header (control \
                 characters or non-ASCII); pass it exactly as issued"
            ))
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(<redacted>)", self.kind())
    }
}

/// The destination as the user describes it, before any check.
#[derive(Clone)]
pub(crate) struct TransportConfig {
    /// The URL to POST to, e.g. `http://127.0.0.1:9090/api/v1/write`. Required.
    pub(crate) endpoint: Option<String>,
    /// The `Authorization` header, when set.
    pub(crate) auth: Option<Auth>,
    /// Extra headers, in the order given. Names may not repeat or shadow protocol headers.
    pub(crate) headers: Vec<(String, String)>,
    /// The limit for one push attempt, connection and response included.
    pub(crate) timeout: Duration,
    /// Whether credentials may travel over plain `http://` to a host off this machine.
    pub(crate) allow_plaintext_credentials: bool,
    /// CAs, client certificate, server name and the danger flag.
    pub(crate) tls: TlsOptions,
    /// `with_proxy`'s URL (it may carry credentials); `None`: the environment's.
    pub(crate) proxy: Option<Secret>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            endpoint: None,
            auth: None,
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            allow_plaintext_credentials: false,
            tls: TlsOptions::default(),
            proxy: None,
        }
    }
}

/// Header values may carry credentials too (`X-Api-Key`, `Authorization: Basic …`),
/// so `Debug` shows header names only.
impl fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportConfig")
            .field(
                "endpoint",
                &self.endpoint.as_deref().map(super::url::redact_raw_url),
            )
            .field("auth", &self.auth)
            .field(
                "headers",
                &RedactedHeaders(self.headers.iter().map(|(n, _)| n.as_str()).collect()),
            )
            .field("timeout", &self.timeout)
            .field(
                "allow_plaintext_credentials",
                &self.allow_plaintext_credentials,
            )
            .field("tls", &self.tls)
            .field(
                "proxy",
                &self
                    .proxy
                    .as_ref()
                    .map(|url| super::url::redact_raw_url(url.expose())),
            )
            .finish()
    }
}

impl TransportConfig {
    /// Checks every field and returns the form the sender is built from.
    ///
    /// Errors: no endpoint; an unparsable URL, a scheme other than `http`/`https`, or
    /// credentials inside the URL; a zero timeout; an extra header whose name or value is not
    /// valid HTTP, repeats another, or is one the sender sets itself (`Content-Encoding`,
    /// `Content-Type`, `X-Prometheus-Remote-Write-Version`, `User-Agent`, `Host`,
    /// `Content-Length`, `Transfer-Encoding`, and `Authorization` when auth is set); TLS
    /// options on an `http://` endpoint; a server name that is no DNS name, or that
    /// would go through a proxy; a proxy URL that is not `http`/`https`; a CA,
    /// certificate or key that cannot be read or used (the message names the file).
    pub(crate) fn validate(self) -> Result<ValidatedTransport, Error> {
        let endpoint = validate_endpoint(self.endpoint.as_deref())?;
        if self.timeout.is_zero() {
            return Err(Error::Config(
                "the push timeout is zero; give with_timeout a positive duration such as 10 s"
                    .to_owned(),
            ));
        }
        // An empty credential is no credential (see `Auth::is_empty`).
        let auth = self.auth.as_ref().filter(|auth| !auth.is_empty());
        let authorization = auth.map(Auth::header_value).transpose()?;
        let mut headers = validate_headers(&self.headers, auth)?;
        let has_credentials = auth.is_some() || headers.keys().any(is_credential_header);
        if has_credentials
            && endpoint.scheme() == "http"
            && !is_loopback(&endpoint)
            && !self.allow_plaintext_credentials
        {
            return Err(Error::Config(format!(
                "credentials would be sent unencrypted over http:// to {}; use an https:// \
                 endpoint, or call allow_credentials_over_http(true) if the network path is \
                 trusted",
                endpoint.host_str().unwrap_or("the endpoint")
            )));
        }
        if let Some(value) = authorization {
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let proxy = match &self.proxy {
            Some(url) => ProxyChoice::explicit(url.expose())?,
            None => ProxyChoice::Environment,
        };
        let loaded = validate_tls(&self.tls, &endpoint, &proxy)?;
        Ok(ValidatedTransport {
            endpoint,
            headers,
            timeout: self.timeout,
            tls: CheckedTls {
                options: self.tls,
                loaded,
            },
            proxy,
        })
    }
}

/// Checks the TLS options against the endpoint and proxy, and reads their files.
fn validate_tls(tls: &TlsOptions, endpoint: &Url, proxy: &ProxyChoice) -> Result<LoadedTls, Error> {
    let shown = super::url::display_endpoint(endpoint);
    if tls.is_set() && endpoint.scheme() == "http" {
        return Err(Error::Config(format!(
            "TLS options (with_tls_…, danger_accept_invalid_certs) are set, but endpoint \
             {shown} is plain http://; use its https:// URL"
        )));
    }
    tls.validate_server_name()?;
    if tls.server_name.is_some() {
        if let Some(via) = proxy.shown_for(endpoint) {
            return Err(Error::Config(format!(
                "with_tls_server_name cannot be used through a proxy, and {shown} would go \
                 through {via}; add the endpoint's host to NO_PROXY (or drop with_proxy), or \
                 leave the server name out"
            )));
        }
    }
    let loaded = TlsMaterial::load(tls)?;
    if tls.accept_invalid_certs {
        tracing::warn!(
            "danger_accept_invalid_certs is on for {shown}: its server certificate is not \
             checked, so anyone on the network path can read and change what is pushed, \
             credentials included; give the server's CA with with_tls_ca_file instead"
        );
    }
    Ok(loaded)
}

/// A configuration that passed [`TransportConfig::validate`]; the sender is built from it.
#[derive(Clone)]
pub(crate) struct ValidatedTransport {
    /// The parsed URL (http or https, no credentials).
    pub endpoint: Url,
    /// The extra headers, checked against the protocol headers, and `Authorization`
    /// (marked sensitive) when auth is set.
    pub headers: HeaderMap,
    /// The limit for one push attempt.
    pub timeout: Duration,
    pub tls: CheckedTls,
    /// The proxy, checked.
    pub proxy: ProxyChoice,
}

impl fmt::Debug for ValidatedTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatedTransport")
            .field("endpoint", &super::url::display_endpoint(&self.endpoint))
            .field(
                "headers",
                &RedactedHeaders(self.headers.keys().map(|n| n.as_str()).collect()),
            )
            .field("timeout", &self.timeout)
            .field("tls", &self.tls.options)
            .field("proxy", &self.proxy)
            .finish()
    }
}

/// Prints `{name: <redacted>, …}` for a list of header names.
struct RedactedHeaders<'a>(Vec<&'a str>);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|name| (name, format_args!("<redacted>"))))
            .finish()
    }
}

/// Whether the endpoint is on this machine: `localhost`, 127.0.0.0/8 or `::1`.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Empty, or only whitespace: a value that carries nothing.
fn is_blank(value: &str) -> bool {
    value.trim().is_empty()
}

fn validate_endpoint(endpoint: Option<&str>) -> Result<Url, Error> {
    let Some(raw) = endpoint else {
        return Err(Error::Config(
            "no remote-write endpoint; call with_endpoint(\"http://host:9090/api/v1/write\")"
                .to_owned(),
        ));
    };
    let url = super::url::parse_http_url(raw, "endpoint", "\"http://host:9090/api/v1/write\"")?;
    if !url.username().is_empty() || url.password().is_some() {
        // Not echoed: the URL holds a credential.
        return Err(Error::Config(
            "the endpoint URL contains credentials (user:password@); remove them and use \
             with_bearer_token or with_header(\"Authorization\", …) instead"
                .to_owned(),
        ));
    }
    Ok(url)
}

fn validate_headers(headers: &[(String, String)], auth: Option<&Auth>) -> Result<HeaderMap, Error> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            Error::Config(format!(
                "header name {name:?} is not a valid HTTP header name; use letters, digits \
                 and '-' only, e.g. \"X-Scope-OrgID\""
            ))
        })?;
        // HeaderName is lower-case, so these comparisons ignore the user's casing.
        if RESERVED_HEADERS.contains(&header_name.as_str()) {
            return Err(Error::Config(format!(
                "header {name:?} is set by prompush itself (remote-write protocol) and cannot \
                 be overridden; remove it from the extra headers"
            )));
        }
        // An empty value (an unset variable's default, say: `with_tenant("")`) sends
        // no header, as an empty credential sends none.
        if is_blank(value) {
            continue;
        }
        if let Some(auth) = auth.filter(|_| header_name == reqwest::header::AUTHORIZATION) {
            return Err(Error::Config(format!(
                "header {name:?} conflicts with the {} auth already configured; configure \
                 either with_bearer_token/with_basic_auth/with_authorization or an \
                 Authorization header, not both",
                auth.kind()
            )));
        }
        if map.contains_key(&header_name) {
            return Err(Error::Config(format!(
                "header {name:?} is given twice; give each extra header once"
            )));
        }
        // The value is not echoed: it may be a credential.
        let mut header_value = HeaderValue::from_str(value).map_err(|_| {
            Error::Config(format!(
                "the value of header {name:?} contains characters not allowed in HTTP \
                 headers (control characters or non-ASCII); use printable ASCII"
            ))
        })?;
        header_value.set_sensitive(true);
        map.insert(header_name, header_value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests;
