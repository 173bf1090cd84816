//! Takes a destination's own credentials out of the text its server answers with.
//!
//! Servers quote what they were sent: `vmauth` answers an unknown token with
//! `cannot find the provided auth token "Bearer <token>" in config`. The sender passes
//! every answer text (body, redirect target, transport error) through a [`Scrubber`]
//! before the text is cut to length and becomes a [`Failure`](super::Failure)'s detail,
//! so no error, log line or `Debug` output repeats a credential.
//!
//! The secrets are drawn from the headers actually sent, so every way of configuring a
//! credential (`with_bearer_token`, `with_basic_auth`, `with_authorization`,
//! `with_header`) is covered by one rule. For each credential header
//! ([`is_credential_header`]): the whole value; for an `Authorization` value of the
//! form `<scheme> <credentials>`, the credentials alone too (a server may quote just the
//! token); for `Basic`, also the user and the password inside the base64 (a server may
//! quote them decoded). The base64 itself is the credentials part, so it is a secret as
//! sent.
//!
//! An echo may spell each character of a secret as itself or as one escape sequence, in
//! any mix: Go's `%q`/`%+q` (`\"`, `\\`, `\t`, `\x09`, `\u00e9`, `\U0001f600`) and JSON
//! strings (`\"`, `\\`, `\/`, `\u003c` as Go's encoder writes `<`, surrogate pairs), hex
//! digits in either case. Text escaped twice is caught only where the sender decodes one
//! level itself (the messages of a JSON error body).
//!
//! Secrets shorter than [`MIN_SECRET_CHARS`] are left alone: text that short occurs in
//! ordinary messages, so scrubbing it would shred every error while hiding nothing a
//! guess could not find.

use std::fmt;

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderName, AUTHORIZATION, PROXY_AUTHORIZATION};

use super::headers::is_credential_header;
use super::Secret;

/// The shortest secret that is scrubbed, in characters. Real tokens, keys and passwords
/// are far longer; one to three characters also spell status codes, words and numbers.
const MIN_SECRET_CHARS: usize = 4;

/// What an echo of a secret becomes.
const REDACTED: &str = "<redacted>";

/// The longest spelling of one character: a JSON surrogate pair, `\ud83d\ude00`.
const LONGEST_ESCAPE: usize = 12;

/// One destination's secrets, and the scrubbing of answers against them.
#[derive(Clone, Default)]
pub(crate) struct Scrubber {
    secrets: Vec<Secret>,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scrubber({} secrets)", self.secrets.len())
    }
}

impl Scrubber {
    /// Scrubs these secrets; those shorter than [`MIN_SECRET_CHARS`] are dropped.
    pub(crate) fn new(secrets: impl IntoIterator<Item = Secret>) -> Self {
        let mut kept: Vec<Secret> = Vec::new();
        for secret in secrets {
            if secret.expose().chars().count() >= MIN_SECRET_CHARS && !kept.contains(&secret) {
                kept.push(secret);
            }
        }
        Scrubber { secrets: kept }
    }

    /// Scrubs the credentials of the credential headers among `headers` (see the module
    /// documentation for which parts).
    pub(crate) fn for_headers(headers: &HeaderMap) -> Self {
        Scrubber::new(Self::secrets_of_headers(headers))
    }

    /// The same secrets plus `more` (a proxy's credentials, say).
    pub(crate) fn with_secrets(self, more: impl IntoIterator<Item = Secret>) -> Self {
        Scrubber::new(self.secrets.into_iter().chain(more))
    }

    /// What [`Scrubber::for_headers`] scrubs, as a list.
    pub(crate) fn secrets_of_headers(headers: &HeaderMap) -> Vec<Secret> {
        let mut secrets = Vec::new();
        for (name, value) in headers {
            if !is_credential_header(name) {
                continue;
            }
            // Values come from `&str`s, so they are UTF-8; lossy is only a fallback.
            let value = String::from_utf8_lossy(value.as_bytes());
            secrets.push(Secret::new(value.as_ref()));
            secrets.extend(authorization_parts(name, &value));
        }
        secrets
    }

    /// How many bytes past a cut an answer must be read so that an echo starting before
    /// the cut is seen whole.
    pub(crate) fn longest_echo(&self) -> usize {
        self.secrets
            .iter()
            .map(|s| s.expose().chars().count() * LONGEST_ESCAPE)
            .max()
            .unwrap_or(0)
    }

    /// `text` with every echo of a secret replaced by `<redacted>`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        self.scrub_and_cut(text.as_bytes(), usize::MAX)
    }

    /// `text` with every echo of a secret replaced by `<redacted>`, then cut after
    /// `limit` bytes of the original (lossy UTF-8). An echo that starts before the cut is
    /// replaced whole, so `text` should reach [`Scrubber::longest_echo`] bytes past it.
    pub(crate) fn scrub_and_cut(&self, text: &[u8], limit: usize) -> String {
        let stop = limit.min(text.len());
        let mut out = Vec::with_capacity(stop);
        let mut pos = 0;
        while pos < stop {
            let Some(mut end) = self.echo_end(text, pos) else {
                out.push(text[pos]);
                pos += 1;
                continue;
            };
            // An echo overlapping this one (two secrets sharing characters) goes with it:
            // cutting where the first ends would leave the second's tail readable.
            let mut inner = pos + 1;
            while inner < end {
                if let Some(other) = self.echo_end(text, inner) {
                    end = end.max(other);
                }
                inner += 1;
            }
            out.extend_from_slice(REDACTED.as_bytes());
            pos = end;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Where the longest echo of any secret that starts at `at` ends.
    fn echo_end(&self, text: &[u8], at: usize) -> Option<usize> {
        self.secrets
            .iter()
            .filter_map(|secret| echo_of(secret.expose(), text, at))
            .max()
    }
}

/// The parts of an `Authorization`-style value worth scrubbing on their own: the
/// credentials after the scheme, and a basic-auth user and password.
fn authorization_parts(name: &HeaderName, value: &str) -> Vec<Secret> {
    if name != AUTHORIZATION && name != PROXY_AUTHORIZATION {
        return Vec::new();
    }
    let Some((scheme, credentials)) = value.split_once(' ') else {
        return Vec::new();
    };
    let credentials = credentials.trim();
    let mut parts = vec![Secret::new(credentials)];
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        if let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
            parts.push(Secret::new(user));
            parts.push(Secret::new(password));
        }
    }
    parts
}

/// Where the longest echo of `secret` that starts at `at` ends, if one does.
fn echo_of(secret: &str, text: &[u8], at: usize) -> Option<usize> {
    let first = secret.chars().next()?;
    let mut buf = [0u8; 4];
    let lead = first.encode_utf8(&mut buf).as_bytes()[0];
    // Most positions start with neither the first character nor an escape.
    if !matches!(text.get(at), Some(&b) if b == lead || b == b'\\') {
        return None;
    }
    // Spellings differ in length, so after each character the echo may have reached
    // several places; all of them are followed.
    let mut reached = vec![at];
    let mut next = Vec::new();
    for c in secret.chars() {
        next.clear();
        for &pos in &reached {
            let rest = text.get(pos..).unwrap_or_default();
            for len in spellings(rest, c).into_iter().flatten() {
                if !next.contains(&(pos + len)) {
                    next.push(pos + len);
                }
            }
        }
        if next.is_empty() {
            return None;
        }
        std::mem::swap(&mut reached, &mut next);
    }
    reached.into_iter().max()
}

/// The lengths of the ways `rest` may begin with `c`: as itself, or as an escape.
fn spellings(rest: &[u8], c: char) -> [Option<usize>; 2] {
    let mut buf = [0u8; 4];
    let raw = c.encode_utf8(&mut buf).as_bytes();
    [
        rest.starts_with(raw).then_some(raw.len()),
        escape_len(rest, c),
    ]
}

/// The length of the escape sequence for `c` that `rest` begins with, if it does.
fn escape_len(rest: &[u8], c: char) -> Option<usize> {
    let [b'\\', kind, tail @ ..] = rest else {
        return None;
    };
    let code = u32::from(c);
    match *kind {
        // Go: a byte.
        b'x' => (code < 0x80 && hex(tail, 2)? == code).then_some(4),
        // Go and JSON: a BMP character; JSON: a surrogate pair beyond it.
        b'u' if code <= 0xFFFF => (hex(tail, 4)? == code).then_some(6),
        b'u' => {
            let offset = code - 0x10000;
            let (high, low) = (0xD800 + (offset >> 10), 0xDC00 + (offset & 0x3FF));
            let second = tail.get(4..)?.strip_prefix(b"\\u")?;
            (hex(tail, 4)? == high && hex(second, 4)? == low).then_some(12)
        }
        // Go: beyond the BMP.
        b'U' => (hex(tail, 8)? == code).then_some(10),
        short => (short_escape(short)? == c).then_some(2),
    }
}

/// The character a one-letter escape (`\n`, `\"`, …) of Go or JSON stands for.
fn short_escape(letter: u8) -> Option<char> {
    Some(match letter {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'\'' => '\'',
        b'a' => '\x07',
        b'b' => '\x08',
        b'f' => '\x0c',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'v' => '\x0b',
        _ => return None,
    })
}

/// The value of the `digits` hex digits `bytes` begins with.
fn hex(bytes: &[u8], digits: usize) -> Option<u32> {
    bytes.get(..digits)?.iter().try_fold(0u32, |value, &b| {
        Some(value * 16 + char::from(b).to_digit(16)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    /// A secret with every character that Go or JSON may escape: `"`, `\`, `<`, `&`,
    /// `>`, `/` and a tab.
    const AWKWARD: &str = "s3\"\\<&>/\tx";

    fn scrubber(secrets: &[&str]) -> Scrubber {
        Scrubber::new(secrets.iter().map(|s| Secret::new(*s)))
    }

    /// Scrubs the text of each `(text, want)` case with a scrubber of `secrets`.
    fn check(secrets: &[&str], cases: &[(&str, &str)]) {
        let scrubber = scrubber(secrets);
        for (text, want) in cases {
            assert_eq!(scrubber.scrub(text), *want, "scrubbing {text}");
        }
    }

    #[test]
    fn every_spelling_of_an_echoed_secret_is_redacted() {
        #[rustfmt::skip]
        check(&[AWKWARD, "pässwörd😀"], &[
            ("raw s3\"\\<&>/\tx.", "raw <redacted>."),
            (r#"Go %q "s3\"\\<&>/\tx""#, r#"Go %q "<redacted>""#),
            (r#"Go JSON "s3\"\\\u003c\u0026\u003e/\tx""#, r#"Go JSON "<redacted>""#),
            (r#"JSON "s3\"\\<&>\/\u0009x""#, r#"JSON "<redacted>""#),
            (r#"mixed s3\x22\x5c\u003C\u0026\u003E\/\x09x"#, "mixed <redacted>"),
            (r#"all \x73\x33\x22\x5c\x3c\x26\x3e\x2f\x09\x78!"#, "all <redacted>!"),
            ("twice s3\"\\<&>/\tx s3\"\\<&>/\tx", "twice <redacted> <redacted>"),
            ("raw pässwörd😀.", "raw <redacted>."),
            (r#"Go %+q "p\u00e4ssw\u00f6rd\U0001f600""#, r#"Go %+q "<redacted>""#),
            (r#"JSON "p\u00E4ssw\u00F6rd\ud83d\ude00""#, r#"JSON "<redacted>""#),
        ]);
    }

    #[test]
    fn text_that_only_resembles_a_secret_is_kept() {
        #[rustfmt::skip]
        check(&[AWKWARD, "abcd1234"], &[
            ("abcd123", "abcd123"),
            ("ABCD1234", "ABCD1234"),
            ("s3\"\\<&>/ x", "s3\"\\<&>/ x"),
            (r#"s3\"\\\u003d&>/\tx"#, r#"s3\"\\\u003d&>/\tx"#),
            (r"\x61\x62\x63\x64\x31\x32\x33\x35", r"\x61\x62\x63\x64\x31\x32\x33\x35"),
            (r"\u00zz \x4 \U0001 \ud83d \", r"\u00zz \x4 \U0001 \ud83d \"),
            ("", ""),
        ]);
    }

    #[test]
    fn secrets_shorter_than_the_minimum_are_not_scrubbed() {
        #[rustfmt::skip]
        check(&["abc", "pw", "x", "abcd"], &[
            ("abc pw x", "abc pw x"),
            ("abcd", "<redacted>"),
            ("xabcdx", "x<redacted>x"),
        ]);
    }

    #[test]
    fn overlapping_echoes_of_two_secrets_are_redacted_as_one() {
        #[rustfmt::skip]
        check(&["xyzab", "abcd1234"], &[
            ("<xyzabcd1234>", "<<redacted>>"),
            ("<abcd1234xyzab>", "<<redacted><redacted>>"),
        ]);
    }

    #[test]
    fn the_cut_counts_original_bytes_and_never_splits_an_echo() {
        let scrubber = scrubber(&["SECRET-TOKEN"]);
        #[rustfmt::skip]
        let cases = [
            ("0123456789", 4, "0123"),
            ("ab SECRET-TOKEN cd", 5, "ab <redacted>"),
            ("ab SECRET-TOKEN cd", 14, "ab <redacted>"),
            ("ab SECRET-TOKEN cd SECRET-TOKEN", 18, "ab <redacted> cd"),
            ("ab SECRET-TOKEN cd", 3, "ab "),
            ("ab SECRET-TOK", 100, "ab SECRET-TOK"),
        ];
        for (text, limit, want) in cases {
            let cut = scrubber.scrub_and_cut(text.as_bytes(), limit);
            assert_eq!(cut, want, "{text} cut at {limit}");
        }
        assert_eq!(scrubber.longest_echo(), 12 * LONGEST_ESCAPE);
        assert_eq!(Scrubber::default().longest_echo(), 0);
    }

    #[test]
    fn credential_headers_give_their_values_and_parts() {
        let basic = "Basic dXNlci0wMDc6Z29vZC1wYXNzd29yZA=="; // user-007:good-password
        let unleash = "default:development.abc";
        #[rustfmt::skip]
        let cases = [
            ("authorization", "Bearer tok-123456", "in Bearer tok-123456.", "in <redacted>."),
            ("authorization", "Bearer tok-123456", "token tok-123456 unknown", "token <redacted> unknown"),
            ("authorization", basic, r#""Basic dXNlci0wMDc6Z29vZC1wYXNzd29yZA==""#, r#""<redacted>""#),
            ("authorization", basic, "dXNlci0wMDc6Z29vZC1wYXNzd29yZA==", "<redacted>"),
            ("authorization", basic, "user-007:good-password", "<redacted>:<redacted>"),
            ("authorization", unleash, r#""default:development.abc" unknown"#, r#""<redacted>" unknown"#),
            ("proxy-authorization", "Basic cHg6cHgtc2VjcmV0", "px-secret", "<redacted>"),
            ("x-api-key", "key-9f8e7d", r#"{"key":"key-9f8e7d"}"#, r#"{"key":"<redacted>"}"#),
            ("api-key", "key 9f8e7d", "key 9f8e7d", "<redacted>"),
            ("api-key", "key 9f8e7d", "9f8e7d", "9f8e7d"), // only Authorization has parts
            ("x-scope-orgid", "tenant-a", "tenant-a over limit", "tenant-a over limit"),
        ];
        for (name, value, echo, want) in cases {
            let mut headers = HeaderMap::new();
            let value = HeaderValue::from_str(value).expect("valid header value");
            headers.insert(HeaderName::from_static(name), value);
            let scrubbed = Scrubber::for_headers(&headers).scrub(echo);
            assert_eq!(scrubbed, want, "{name} echoed as {echo}");
        }
    }

    #[test]
    fn debug_shows_how_many_secrets_not_what_they_are() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer tok-SECRET"));
        let scrubber = Scrubber::for_headers(&headers);
        assert_eq!(format!("{scrubber:?}"), "Scrubber(2 secrets)");
    }
}
