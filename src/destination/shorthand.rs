//! The push options that the provider builder (for its default destination) and the
//! SDK exporter's builder (for its own) forward to [`Destination`](super::Destination):
//! one list, so the builders cannot drift apart from each other or from `Destination`.

/// Writes, inside an `impl` block of a builder, one method per push option that calls
/// `self.$apply(|d| d.<option>(…))`; `$whose` names the destination in the docs.
macro_rules! destination_shorthands {
    ($apply:ident, $whose:literal) => {
        $crate::destination::shorthand::destination_shorthands!(@each $apply, $whose;
            with_bearer_token(token: impl Into<String>);
            with_basic_auth(user: impl Into<String>, password: impl Into<String>);
            with_authorization(value: impl Into<String>);
            with_tenant(tenant: impl Into<String>);
            with_external_label(name: impl Into<String>, value: impl Into<String>);
            with_header(name: impl Into<String>, value: impl Into<String>);
            allow_credentials_over_http(allow: bool);
            with_timeout(timeout: std::time::Duration);
            with_max_samples_per_send(samples: usize);
            with_max_pending_bytes(bytes: usize);
            with_retry_backoff(min: std::time::Duration, max: std::time::Duration);
            with_shutdown_timeout(timeout: std::time::Duration);
            with_native_histograms(enabled: bool);
        );
    };
    (@each $apply:ident, $whose:literal; $($option:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            #[doc = concat!(
                "[`Destination::", stringify!($option), "`](crate::Destination::",
                stringify!($option), ") for ", $whose, "."
            )]
            pub fn $option(self, $($arg: $ty),*) -> Self {
                self.$apply(|d| d.$option($($arg),*))
            }
        )*
    };
}

pub(crate) use destination_shorthands;
