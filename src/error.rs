//! The crate's one error type.

/// Everything that can go wrong in prompush, with a message that says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A builder option has a value that cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// `shutdown()` was called before.
    #[error("the meter provider is already shut down; build a new provider to record again")]
    AlreadyShutdown,
}
