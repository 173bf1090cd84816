//! An error's message with its sources, for messages that must say the cause underneath
//! (`error sending request: connection refused`).

/// An error and its sources, `outer: inner: innermost`.
pub(crate) fn error_chain(error: reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
