//! Which proxy a destination's requests go through.
//!
//! `with_proxy(url)` names one for a destination: every request goes through it,
//! loopback included (as Go's `http.ProxyURL` does). Without it the environment decides,
//! read as reqwest reads it: `HTTP_PROXY`/`http_proxy` for `http://` endpoints,
//! `HTTPS_PROXY`/`https_proxy` for `https://`, `ALL_PROXY`/`all_proxy` for both,
//! `NO_PROXY`/`no_proxy` for exceptions, none of them in a CGI process (where
//! `REQUEST_METHOD` is set, since a request header could set `HTTP_PROXY`). One thing is
//! added, as Go does: loopback (`localhost`, 127.0.0.0/8, `::1`) is never proxied by the
//! environment.
//!
//! A proxy URL may carry credentials (`http://user:password@proxy:3128`); they are a
//! secret like any other: never in `Debug` output, messages or logs, and scrubbed from
//! answers ([`secrets`]).

use std::fmt;

use base64::Engine as _;
use hyper_util::client::proxy::matcher::Matcher;
use reqwest::header::{HeaderMap, HeaderValue, PROXY_AUTHORIZATION};
use reqwest::{ClientBuilder, Proxy, Url};

use super::scrub::Scrubber;
use super::Secret;
use crate::Error;

/// The hosts the environment's proxies never apply to.
const LOOPBACK: &str = "localhost, 127.0.0.0/8, ::1";

/// Where a destination's proxy comes from.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum ProxyChoice {
    /// The environment's variables (see the module documentation).
    Environment,
    /// `with_proxy(url)`: this URL, checked, for every request.
    Explicit(Secret),
}

impl fmt::Debug for ProxyChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyChoice::Environment => f.write_str("Environment"),
            ProxyChoice::Explicit(url) => {
                write!(f, "Explicit({})", super::url::redact_raw_url(url.expose()))
            }
        }
    }
}

impl ProxyChoice {
    /// Checks a `with_proxy` URL: `http` or `https`, with a host.
    pub(crate) fn explicit(raw: &str) -> Result<Self, Error> {
        super::url::parse_http_url(
            raw,
            "with_proxy",
            "\"http://proxy.internal:3128\" (credentials as user:password@ if needed)",
        )?;
        Ok(ProxyChoice::Explicit(Secret::new(raw)))
    }

    /// Sets the proxies of a client for this choice.
    pub(crate) fn apply(&self, builder: ClientBuilder) -> Result<ClientBuilder, Error> {
        match self {
            ProxyChoice::Explicit(url) => {
                let proxy = Proxy::all(url.expose()).map_err(|_| {
                    Error::Config(format!(
                        "with_proxy({:?}) cannot be used as a proxy URL",
                        super::url::redact_raw_url(url.expose())
                    ))
                })?;
                Ok(builder.proxy(proxy))
            }
            ProxyChoice::Environment => {
                let proxies = EnvProxies::from_env().reqwest_proxies();
                if proxies.is_empty() {
                    return Ok(builder.no_proxy());
                }
                Ok(proxies.into_iter().fold(builder, ClientBuilder::proxy))
            }
        }
    }

    /// The proxy requests to `endpoint` go through, without credentials, for messages.
    pub(crate) fn shown_for(&self, endpoint: &Url) -> Option<String> {
        match self {
            ProxyChoice::Explicit(url) => Some(match Url::parse(url.expose()) {
                Ok(parsed) => super::url::display_endpoint(&parsed),
                Err(_) => super::url::redact_raw_url(url.expose()),
            }),
            ProxyChoice::Environment => EnvProxies::from_env().proxy_for(endpoint),
        }
    }

    /// The credentials this choice may send, for the destination's [`Scrubber`].
    pub(crate) fn secrets(&self) -> Vec<Secret> {
        match self {
            ProxyChoice::Explicit(url) => secrets(url.expose()),
            ProxyChoice::Environment => {
                let env = EnvProxies::from_env();
                [env.http, env.https, env.all]
                    .iter()
                    .flatten()
                    .flat_map(|url| secrets(url))
                    .collect()
            }
        }
    }
}

/// The secrets in a proxy URL: the URL itself, the user and password as written and
/// decoded, and the `Proxy-Authorization` value they become.
pub(crate) fn secrets(raw: &str) -> Vec<Secret> {
    let Ok(url) = Url::parse(raw) else {
        return vec![Secret::new(raw)];
    };
    if url.username().is_empty() && url.password().is_none() {
        return Vec::new();
    }
    let decode = |part: &str| percent_decode(part).unwrap_or_else(|| part.to_owned());
    let user = decode(url.username());
    let password = url.password().map(decode).unwrap_or_default();
    let mut out = vec![
        Secret::new(raw),
        Secret::new(url.username()),
        Secret::new(url.password().unwrap_or_default()),
    ];
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&format!("Basic {basic}")) {
        headers.insert(PROXY_AUTHORIZATION, value);
    }
    out.extend(Scrubber::secrets_of_headers(&headers));
    out
}

/// `%XX` decoding of a URL's user or password; `None` if it is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h)? * 16 + hex(l)?) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The proxy variables of the environment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct EnvProxies {
    http: Option<String>,
    https: Option<String>,
    all: Option<String>,
    no: String,
}

impl EnvProxies {
    /// The variables of this process's environment.
    pub(crate) fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The variables as `lookup` gives them: upper case first, as reqwest reads them.
    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        if lookup("REQUEST_METHOD").is_some() {
            return EnvProxies::default();
        }
        let first = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|name| lookup(name))
                .filter(|value| !value.trim().is_empty())
        };
        EnvProxies {
            http: first(["HTTP_PROXY", "http_proxy"]),
            https: first(["HTTPS_PROXY", "https_proxy"]),
            all: first(["ALL_PROXY", "all_proxy"]),
            no: first(["NO_PROXY", "no_proxy"]).unwrap_or_default(),
        }
    }

    /// `NO_PROXY` with loopback added.
    fn no_proxy(&self) -> String {
        if self.no.trim().is_empty() {
            LOOPBACK.to_owned()
        } else {
            format!("{}, {LOOPBACK}", self.no)
        }
    }

    /// The proxies for a reqwest client; unusable values are left out (and warned
    /// about, without the value: it may hold a password).
    fn reqwest_proxies(&self) -> Vec<Proxy> {
        let no_proxy = reqwest::NoProxy::from_string(&self.no_proxy());
        let mut proxies = Vec::new();
        type MakeProxy = fn(&str) -> reqwest::Result<Proxy>;
        let candidates: [(&Option<String>, &str, MakeProxy); 3] = [
            (&self.http, "HTTP_PROXY", |url| Proxy::http(url)),
            (&self.https, "HTTPS_PROXY", |url| Proxy::https(url)),
            (&self.all, "ALL_PROXY", |url| Proxy::all(url)),
        ];
        for (value, name, make) in candidates {
            let Some(value) = value else { continue };
            match make(value) {
                Ok(proxy) => proxies.push(proxy.no_proxy(no_proxy.clone())),
                Err(_) => tracing::warn!(
                    "{name} is not a usable proxy URL and is ignored; give one such as \
                     http://proxy.internal:3128"
                ),
            }
        }
        proxies
    }

    /// The proxy (without credentials) that requests to `endpoint` go through.
    pub(crate) fn proxy_for(&self, endpoint: &Url) -> Option<String> {
        let mut builder = Matcher::builder().no(self.no_proxy());
        if let Some(all) = &self.all {
            builder = builder.all(all.clone());
        }
        if let Some(http) = &self.http {
            builder = builder.http(http.clone());
        }
        if let Some(https) = &self.https {
            builder = builder.https(https.clone());
        }
        let uri: hyper::Uri = endpoint.as_str().parse().ok()?;
        let intercept = builder.build().intercept(&uri)?;
        Some(intercept.uri().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> EnvProxies {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        EnvProxies::from_lookup(move |name| {
            vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
        })
    }

    fn proxied(env: &EnvProxies, endpoint: &str) -> Option<String> {
        env.proxy_for(&Url::parse(endpoint).expect("url"))
    }

    #[test]
    fn environment_proxies_apply_by_scheme_as_reqwest_reads_them() {
        let vars = env(&[
            ("HTTP_PROXY", "http://plain-proxy:3128"),
            ("https_proxy", "http://tls-proxy:3128"),
        ]);
        let cases = [
            (
                "http://mimir.internal/api/v1/push",
                Some("http://plain-proxy:3128/"),
            ),
            (
                "https://mimir.internal/api/v1/push",
                Some("http://tls-proxy:3128/"),
            ),
        ];
        for (endpoint, want) in cases {
            assert_eq!(proxied(&vars, endpoint).as_deref(), want, "{endpoint}");
        }
        let all = env(&[("ALL_PROXY", "http://every:1")]);
        assert_eq!(
            proxied(&all, "https://x.example/").as_deref(),
            Some("http://every:1/")
        );
    }

    #[test]
    fn loopback_is_never_proxied_by_the_environment() {
        let vars = env(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("HTTP_PROXY", "http://proxy:3128"),
        ]);
        for endpoint in [
            "https://127.0.0.1:9090/api/v1/write",
            "http://127.3.4.5/x",
            "https://localhost:9090/x",
            "http://[::1]:9090/x",
        ] {
            assert_eq!(proxied(&vars, endpoint), None, "{endpoint}");
        }
    }

    #[test]
    fn no_proxy_exempts_hosts_and_cgi_processes_use_no_proxy() {
        let vars = env(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("NO_PROXY", "internal.example, 10.0.0.0/8"),
        ]);
        assert_eq!(proxied(&vars, "https://mimir.internal.example/"), None);
        assert_eq!(proxied(&vars, "https://10.1.2.3/"), None);
        assert!(proxied(&vars, "https://vendor.example/").is_some());

        let cgi = env(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("REQUEST_METHOD", "GET"),
        ]);
        assert_eq!(proxied(&cgi, "https://vendor.example/"), None);
    }

    #[test]
    fn proxy_credentials_never_show_and_are_all_secrets() {
        let raw = "http://pusher:s3cr%40t-pass@proxy.internal:3128";
        let choice = ProxyChoice::explicit(raw).expect("valid");
        let shown = format!(
            "{choice:?} {:?}",
            choice.shown_for(&Url::parse("https://x.example/").expect("url"))
        );
        assert!(
            !shown.contains("s3cr") && !shown.contains("pusher"),
            "{shown}"
        );
        let secrets: Vec<String> = choice
            .secrets()
            .iter()
            .map(|s| s.expose().to_owned())
            .collect();
        for want in ["s3cr%40t-pass", "s3cr@t-pass", "pusher"] {
            assert!(secrets.iter().any(|s| s == want), "{want} in {secrets:?}");
        }
        let basic = base64::engine::general_purpose::STANDARD.encode("pusher:s3cr@t-pass");
        assert!(secrets.iter().any(|s| s == &basic), "{secrets:?}");
    }

    #[test]
    fn proxy_urls_must_be_http_or_https_with_a_host() {
        for bad in ["socks5://proxy:1080", "not a url", "http://"] {
            assert!(ProxyChoice::explicit(bad).is_err(), "{bad}");
        }
        assert!(ProxyChoice::explicit("https://proxy.internal:3129").is_ok());
    }
}
