//! The checks a [`Destination`] passes at `build()`, which turn it into the settings of
//! a running pipeline: its transport and its delivery. Errors name the option to change
//! and, through the provider, the destination.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use super::Destination;
use crate::pipeline::{Delivery, SeriesOptions};
use crate::prometheus::naming;
use crate::transport::{Protocol, ValidatedTransport};
use crate::{env, Error};

impl Destination {
    /// Checks everything; `default_interval` is the provider's push interval. Errors
    /// name the destination.
    pub(crate) fn validate(
        self,
        default_interval: Duration,
    ) -> Result<(ValidatedTransport, Delivery), Error> {
        let name = self.name.clone();
        let in_destination = |e: Error| match e {
            Error::Config(message) => Error::Config(format!("destination {name:?}: {message}")),
            other => other,
        };
        check_name(&self.name)?;
        self.validate_options(default_interval)
            .map_err(in_destination)
    }

    /// Gives the destination the provider's stderr-fallback choice (`None`: the
    /// environment's, else on).
    pub(crate) fn with_stderr_fallback_choice(mut self, enabled: Option<bool>) -> Self {
        self.stderr_fallback = enabled;
        self
    }

    /// Gives the destination the provider's scope-label choice unless it has its own.
    pub(crate) fn with_default_scope_labels(mut self, enabled: Option<bool>) -> Self {
        self.scope_labels = self.scope_labels.or(enabled);
        self
    }

    /// The checks of every option but the name.
    fn validate_options(
        self,
        default_interval: Duration,
    ) -> Result<(ValidatedTransport, Delivery), Error> {
        let interval = self.interval.unwrap_or(default_interval);
        if interval.is_zero() {
            return Err(Error::Config(
                "with_push_interval(0): the push interval must be positive".into(),
            ));
        }
        if self.max_samples_per_send == 0 {
            return Err(Error::Config(
                "with_max_samples_per_send(0): a request must carry at least one sample".into(),
            ));
        }
        if self.max_shards == 0 {
            return Err(Error::Config(
                "with_max_shards(0): a destination needs at least one shard; give 1 to send \
                 one request at a time"
                    .into(),
            ));
        }
        let (min, max) = (self.min_backoff, self.max_backoff);
        if min.is_zero() || max < min {
            return Err(Error::Config(format!(
                "with_retry_backoff({min:?}, {max:?}): the first wait must be positive and the \
                 longest at least as long"
            )));
        }
        let max_body_bytes = match (self.protocol, self.max_body_bytes) {
            (Protocol::RemoteWrite | Protocol::RemoteWriteV2, Some(_)) => {
                return Err(Error::Config(
                    "with_max_body_bytes applies to custom-metrics (JSON) destinations; a \
                     remote-write request is sized with with_max_samples_per_send"
                        .into(),
                ))
            }
            (_, Some(bytes)) if bytes < 1024 => {
                return Err(Error::Config(format!(
                    "with_max_body_bytes({bytes}): a body must have room for at least one \
                     entry; give 1024 bytes or more"
                )))
            }
            (_, bytes) => bytes.unwrap_or(Destination::DEFAULT_MAX_BODY_BYTES),
        };
        if self.native_histograms && !self.protocol.is_remote_write() {
            return Err(Error::Config(
                "with_native_histograms(true) applies to remote-write destinations; JSON \
                 destinations get exponential histograms as classic buckets"
                    .into(),
            ));
        }
        if self.name_translation.keeps_utf8() && self.protocol != Protocol::RemoteWriteV2 {
            return Err(Error::Config(format!(
                "destination {:?}: with_name_translation({:?}) keeps UTF-8 names, which only \
                 remote write 2.0 carries (1.0 requires legacy names): use \
                 Destination::remote_write_v2, or an UnderscoreEscaping strategy",
                self.name, self.name_translation
            )));
        }
        validate_external_labels(&self.external_labels)?;
        let transport = self.transport.validate()?;
        let delivery = Delivery {
            name: self.name,
            protocol: self.protocol,
            max_body_bytes,
            series: SeriesOptions {
                external_labels: self.external_labels,
                target_info: true,
                scope_labels: self.scope_labels.unwrap_or(true),
                native_histograms: Arc::new(AtomicBool::new(self.native_histograms)),
                fallen_back: Arc::new(AtomicBool::new(false)),
                name_translation: self.name_translation,
            },
            interval,
            backoff: min..=max,
            max_samples_per_send: self.max_samples_per_send,
            max_pending_bytes: self.max_pending_bytes,
            max_shards: self.max_shards,
            shutdown_timeout: self.shutdown_timeout,
            stderr_fallback: match self.stderr_fallback {
                Some(enabled) => enabled,
                None => env::log_fallback()?.unwrap_or(true),
            },
        };
        Ok((transport, delivery))
    }
}

/// Names: 1 to 64 letters, digits, `_`, `-` or `.`.
fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(Error::Config(format!(
            "destination name {name:?} must be 1 to 64 letters, digits, '_', '-' or '.' \
             (it labels the prompush_* metrics and log lines)"
        )));
    }
    Ok(())
}

/// External labels: valid names, non-empty values, each name once.
fn validate_external_labels(labels: &[(String, String)]) -> Result<(), Error> {
    for (i, (name, value)) in labels.iter().enumerate() {
        if !naming::is_valid_label_name(name) {
            return Err(Error::Config(format!(
                "external label name {name:?} is not a valid Prometheus label name; use \
                 letters, digits and '_', not starting with a digit or \"__\" (e.g. \"app_id\")"
            )));
        }
        if name == "le" {
            return Err(Error::Config(
                "external label \"le\" would clash with the bucket label of histograms; \
                 choose another name"
                    .into(),
            ));
        }
        if value.is_empty() {
            return Err(Error::Config(format!(
                "external label {name:?} has an empty value, which Prometheus treats as no \
                 label; give a value or leave the label out"
            )));
        }
        if labels[..i].iter().any(|(n, _)| n == name) {
            return Err(Error::Config(format!(
                "external label {name:?} is given twice; give each name once"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_credentials_pass_validation_over_plain_http_off_this_machine() {
        let interval = Duration::from_secs(60);
        let destinations = [
            Destination::remote_write("d", "http://example.invalid/api/v1/write")
                .with_bearer_token(""),
            Destination::remote_write("d", "http://example.invalid/api/v1/write")
                .with_basic_auth("", "")
                .with_tenant(""),
            Destination::custom_metrics_json("d", "http://example.invalid/custom")
                .with_authorization(""),
        ];
        for destination in destinations {
            let (transport, _) = destination.validate(interval).expect("no credential");
            assert!(transport.headers.is_empty(), "{:?}", transport.headers);
        }
        let token = Destination::remote_write("d", "http://example.invalid/api/v1/write")
            .with_bearer_token("t");
        let message = token.validate(interval).unwrap_err().to_string();
        assert!(message.contains("unencrypted"), "{message}");
    }
}

#[cfg(test)]
mod translation_tests {
    use super::*;
    use crate::NameTranslation;

    #[test]
    fn utf8_names_are_refused_on_every_protocol_but_remote_write_2() {
        let interval = Duration::from_secs(60);
        let url = "http://localhost:9090/api/v1/write";
        for strategy in [
            NameTranslation::NoUTF8EscapingWithSuffixes,
            NameTranslation::NoTranslation,
        ] {
            let v1 = Destination::remote_write("d", url).with_name_translation(strategy);
            let error = v1.validate(interval).unwrap_err().to_string();
            assert!(error.contains("Destination::remote_write_v2"), "{error}");
            let json = Destination::custom_metrics_json("d", url).with_name_translation(strategy);
            assert!(json.validate(interval).is_err());
            let v2 = Destination::remote_write_v2("d", url).with_name_translation(strategy);
            let (_, delivery) = v2.validate(interval).expect("2.0 takes UTF-8 names");
            assert_eq!(delivery.series.name_translation, strategy);
        }
        let escaped = Destination::remote_write("d", url)
            .with_name_translation(NameTranslation::UnderscoreEscapingWithoutSuffixes);
        assert!(escaped.validate(interval).is_ok());
    }
}
