//! The HTTP clients: one per distinct TLS and proxy setting, shared by every destination
//! of the process with that setting, and rebuilt when its certificate files change.
//!
//! A [`ClientKey`] is everything that decides how a connection is made: the TLS options
//! as given (file paths, in-memory PEM, server name, the danger flag), the proxy, and
//! for a server-name override the host it stands for. Equal keys share one
//! [`SharedClient`] and so one connection pool and TLS session cache; different keys
//! never share a connection. The registry holds weak references: a client lives as long
//! as a sender uses it.
//!
//! Rotation: cert-manager and Vault agents rewrite certificate, key and CA files in
//! place. Before every request [`SharedClient::current`] compares each file's stamp
//! (size, modification time, inode) with the last one seen, which costs a `stat` per
//! file. A changed or racy stamp (see [`tls::RACY_WINDOW`]) has the files read again;
//! new bytes are checked in full before use. Good ones replace the client, so new
//! connections, with no resumed session, present the new certificate; requests under way
//! finish on the old one. Bad ones (a key that no longer matches, a half-written file)
//! leave the old client in use and are logged once per distinct content. The same bytes
//! again (a `touch`) change nothing.
//!
//! A server-name override (`with_tls_server_name`) needs SNI to differ from the URL's
//! host, which reqwest takes from the URL. So the request goes to a URL whose host is the
//! server name, a resolver maps that name back to the real host, and the `Host` header
//! keeps the original (see `http.rs`).
//!
//! HTTP/1.1 only, for every client: a destination sends one request at a time per
//! connection, so HTTP/2's multiplexing buys nothing, while its connection-level errors
//! turn the TLS cause into text and fail the queued request as "connection closed" (a
//! server refusing the client certificate after a TLS 1.3 handshake shows that way); in
//! HTTP/1.1 the rustls error reaches the request, typed. HTTP/2 would also send a
//! server-name override as `:authority`, where the `Host` header must stay the URL's.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{redirect, Client};

use super::proxy::ProxyChoice;
use super::tls::{self, LoadedTls, TlsMaterial, TlsOptions, WatchedFile};
use crate::sync::Mutex;
use crate::Error;

/// Everything that decides how a connection is made.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    pub(crate) tls: TlsOptions,
    pub(crate) proxy: ProxyChoice,
    pub(crate) route: Option<ServerNameRoute>,
}

/// A server-name override: requests addressed to `server_name` connect to `host`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ServerNameRoute {
    /// The name sent as SNI and checked in the certificate (lower case).
    pub(crate) server_name: String,
    /// The URL's host (an IP address without brackets, or a DNS name).
    pub(crate) host: String,
}

/// One client and the files it was built from.
pub(crate) struct SharedClient {
    key: ClientKey,
    state: Mutex<State>,
}

struct State {
    client: Client,
    files: Vec<WatchedFile>,
    /// The fingerprint of the files the client was built from.
    in_use: u64,
    /// The fingerprint of the last new content that failed its checks (logged once).
    refused: Option<u64>,
    /// How many times the client was built; for tests and log lines.
    generation: u64,
}

type Registry = Mutex<HashMap<ClientKey, Weak<SharedClient>>>;

fn registry() -> &'static Registry {
    static CLIENTS: OnceLock<Registry> = OnceLock::new();
    CLIENTS.get_or_init(Registry::default)
}

/// The client for `key`: the one in use by another destination with the same key, or a
/// new one built from `loaded` (the files as `build()` read and checked them).
pub(crate) fn shared(key: ClientKey, loaded: &LoadedTls) -> Result<Arc<SharedClient>, Error> {
    let mut clients = registry().lock();
    clients.retain(|_, client| client.strong_count() > 0);
    if let Some(client) = clients.get(&key).and_then(Weak::upgrade) {
        return Ok(client);
    }
    let client = Arc::new(SharedClient {
        state: Mutex::new(State {
            client: build(&key, &loaded.material)?,
            files: loaded.files.clone(),
            in_use: loaded.fingerprint,
            refused: None,
            generation: 1,
        }),
        key: key.clone(),
    });
    clients.insert(key, Arc::downgrade(&client));
    Ok(client)
}

impl SharedClient {
    /// The client to send with now, rebuilt first if its files changed and the new ones
    /// pass the checks.
    pub(crate) fn current(&self) -> Client {
        let mut state = self.state.lock();
        // Blocking file reads on the push task: a stat per file, and a read of a few KiB
        // only when one changed.
        if state.files.iter().any(WatchedFile::needs_reading) {
            self.reload(&mut state);
        }
        state.client.clone()
    }

    fn reload(&self, state: &mut State) {
        let read = tls::read_sources(&self.key.tls);
        state.files = read.files.clone();
        if read.fingerprint == state.in_use || Some(read.fingerprint) == state.refused {
            return;
        }
        let rebuilt = TlsMaterial::parse(&self.key.tls, &read)
            .and_then(|material| build(&self.key, &material));
        match rebuilt {
            Ok(client) => {
                state.client = client;
                state.in_use = read.fingerprint;
                state.refused = None;
                state.generation += 1;
                tracing::info!("TLS files changed; new connections use the new certificates");
            }
            Err(error) => {
                state.refused = Some(read.fingerprint);
                tracing::warn!(
                    "the changed TLS files are not used: {error}; connections keep the \
                     certificates read before"
                );
            }
        }
    }

    /// How many times the client was built (1 at first).
    #[cfg(test)]
    pub(crate) fn generation(&self) -> u64 {
        self.state.lock().generation
    }
}

/// A reqwest client for `key` with `material`.
fn build(key: &ClientKey, material: &TlsMaterial) -> Result<Client, Error> {
    let mut tls = tls::client_config(&key.tls, material)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut builder = Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(redirect::Policy::none());
    builder = match &key.route {
        // Validation refused a proxy for the real host; none may match the server name.
        Some(route) => builder
            .no_proxy()
            .dns_resolver(Arc::new(RouteResolver(route.clone()))),
        None => key.proxy.apply(builder)?,
    };
    builder.build().map_err(|e| {
        Error::Config(format!(
            "cannot set up the HTTP client ({}); this is a TLS/platform problem, please \
             report it",
            super::error_chain::error_chain(e.without_url())
        ))
    })
}

/// Resolves the server name of a route to its real host; other names as usual.
struct RouteResolver(ServerNameRoute);

impl Resolve for RouteResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = if name.as_str().eq_ignore_ascii_case(&self.0.server_name) {
            self.0.host.clone()
        } else {
            name.as_str().to_owned()
        };
        Box::pin(async move {
            // Port 0: the connector sets the URL's port on every address.
            let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests;
