//! Exact-secret redaction, and the rules a secret must meet to be accepted.
//!
//! This module owns two things:
//! - [`Scrubber`]: removes every secret Switchyard holds for a provider from text
//!   that provider sent back (error bodies, in-stream error events, token endpoint
//!   errors), verbatim and in the encodings a server is likely to echo it in:
//!   JSON-escaped, percent-encoded, and base64 / base64url at any byte offset
//!   (so the secret is also found inside a longer base64 blob, such as a `Basic`
//!   credential). It runs before any truncation, so a cut never leaves half a
//!   secret. The pattern heuristic ([`pattern`]) stays as a second net.
//! - [`check_secret`]: what an API key, access or refresh token or client secret
//!   may contain (printable ASCII without whitespace, at least
//!   [`MIN_SECRET_CHARS`] characters), checked at every entry point (admin API,
//!   CLI, token endpoint answers).
//!
//! Pure: no I/O, no clock, no logging. It must not depend on the store, the pool
//! or the HTTP client; callers hand it the secrets.

use std::borrow::Cow;
use std::fmt;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};

pub mod pattern;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Shortest secret accepted, and shortest pattern scrubbed: a shorter one would
/// match ordinary words and destroy the text around it.
pub const MIN_SECRET_CHARS: usize = 8;

/// Longest secret accepted (a JWT with many claims stays well below).
pub const MAX_SECRET_CHARS: usize = 16 * 1024;

// === check_secret ===

/// Why a secret is refused. Never carries the secret or any part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Nothing given.
    #[error("must not be empty")]
    Empty,
    /// Fewer than [`MIN_SECRET_CHARS`] characters.
    #[error("must be at least {MIN_SECRET_CHARS} characters long")]
    TooShort,
    /// More than [`MAX_SECRET_CHARS`] characters.
    #[error("must be at most {MAX_SECRET_CHARS} characters long")]
    TooLong,
    /// A line break or another control character: it cannot be sent as an HTTP
    /// header value.
    #[error("must not contain a line break or another control character")]
    Control,
    /// A space or tab, often a copy-and-paste accident.
    #[error("must not contain whitespace")]
    Whitespace,
    /// A character outside ASCII.
    #[error("must contain ASCII characters only")]
    NonAscii,
}

/// Checks that `secret` can be stored and sent: printable ASCII, no whitespace,
/// between [`MIN_SECRET_CHARS`] and [`MAX_SECRET_CHARS`] characters.
pub fn check_secret(secret: &str) -> Result<(), SecretError> {
    if secret.is_empty() {
        return Err(SecretError::Empty);
    }
    // Character classes first: a key with a trailing newline is reported as such,
    // whatever its length.
    for c in secret.chars() {
        // A tab is reported as whitespace; CR, LF and the rest as control characters.
        if c.is_control() && c != '\t' {
            return Err(SecretError::Control);
        }
        if c.is_whitespace() {
            return Err(SecretError::Whitespace);
        }
        if !c.is_ascii() {
            return Err(SecretError::NonAscii);
        }
    }
    if secret.len() < MIN_SECRET_CHARS {
        return Err(SecretError::TooShort);
    }
    if secret.len() > MAX_SECRET_CHARS {
        return Err(SecretError::TooLong);
    }
    Ok(())
}

// === Scrubber ===

/// Removes a fixed set of secrets, in their common encodings, from text.
///
/// Built from the secrets of one provider when one of its attempts failed (never
/// on a successful answer). Secrets shorter than [`MIN_SECRET_CHARS`] are not
/// scrubbed: [`check_secret`] refuses them on input.
#[derive(Clone, Default)]
pub struct Scrubber {
    patterns: Patterns,
}

/// What a [`Scrubber`] searches for.
#[derive(Clone, Default)]
enum Patterns {
    /// Nothing to scrub.
    #[default]
    None,
    /// Every form of every secret.
    Some(AhoCorasick),
    /// The search could not be built (a pattern set beyond the automaton's
    /// limits): fail closed, every text is replaced whole.
    Unavailable,
}

impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The patterns are secrets: only their number is shown.
        let count = match &self.patterns {
            Patterns::Some(p) => p.patterns_len(),
            Patterns::None | Patterns::Unavailable => 0,
        };
        f.debug_struct("Scrubber")
            .field("patterns", &count)
            .finish()
    }
}

impl Scrubber {
    /// A scrubber of `secrets` and their encodings.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a SecretString>) -> Self {
        let mut patterns: Vec<String> = Vec::new();
        for secret in secrets {
            let secret = secret.expose_secret();
            if secret.len() < MIN_SECRET_CHARS {
                continue;
            }
            patterns.extend(encodings(secret));
        }
        patterns.retain(|p| p.len() >= MIN_SECRET_CHARS);
        patterns.sort_unstable();
        patterns.dedup();
        if patterns.is_empty() {
            return Self::default();
        }
        // Standard semantics: every overlapping occurrence is reported, so two
        // overlapping secrets are both removed whole.
        let patterns = match AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
        {
            Ok(automaton) => Patterns::Some(automaton),
            Err(_) => Patterns::Unavailable,
        };
        Self { patterns }
    }

    /// Whether it scrubs nothing.
    pub fn is_empty(&self) -> bool {
        matches!(self.patterns, Patterns::None)
    }

    /// `text` with every occurrence of a secret, in any encoding known here,
    /// replaced by [`REDACTED`]. Overlapping or adjacent occurrences become one
    /// [`REDACTED`].
    pub fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let patterns = match &self.patterns {
            Patterns::None => return Cow::Borrowed(text),
            Patterns::Unavailable => return Cow::Borrowed(REDACTED),
            Patterns::Some(patterns) => patterns,
        };
        // Overlapping matches come in order of their end: sort by start, then merge.
        let mut found: Vec<(usize, usize)> = patterns
            .find_overlapping_iter(text)
            .map(|m| (m.start(), m.end()))
            .collect();
        if found.is_empty() {
            return Cow::Borrowed(text);
        }
        found.sort_unstable();
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(found.len());
        for (start, end) in found {
            match spans.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => spans.push((start, end)),
            }
        }
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for (start, end) in spans {
            // Patterns are whole UTF-8 strings, so spans fall on char boundaries;
            // `get` keeps that an assumption that cannot panic.
            out.push_str(text.get(copied..start).unwrap_or_default());
            out.push_str(REDACTED);
            copied = end;
        }
        out.push_str(text.get(copied..).unwrap_or_default());
        Cow::Owned(out)
    }
}

/// The forms in which `secret` may come back from a server.
fn encodings(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_owned()];
    // JSON-escaped (a JSON document quoted inside a message), with `/` escaped or not.
    if let Ok(quoted) = serde_json::to_string(secret) {
        let escaped = quoted
            .get(1..quoted.len().saturating_sub(1))
            .unwrap_or_default();
        out.push(escaped.replace('/', "\\/"));
        out.push(escaped.to_owned());
    }
    // Percent-encoded: RFC 3986 (upper and lower hex digits), and HTML forms.
    out.push(percent_encode(secret, is_unreserved, Hex::Upper));
    out.push(percent_encode(secret, is_unreserved, Hex::Lower));
    out.push(percent_encode(secret, is_form_safe, Hex::Upper));
    // base64 and base64url, at each of the three byte offsets the secret may start
    // at inside a longer encoded value; the standard alphabet percent-encoded too
    // (base64 in a query string).
    for offset in 0..3 {
        let standard = base64_core(secret.as_bytes(), offset, &STANDARD_NO_PAD);
        out.push(percent_encode(&standard, is_unreserved, Hex::Upper));
        out.push(standard);
        out.push(base64_core(secret.as_bytes(), offset, &URL_SAFE_NO_PAD));
    }
    out
}

/// The base64 characters that depend on `secret` alone when it starts `offset`
/// bytes (0 to 2) into an encoded value: whatever surrounds it, an encoding of
/// that value contains these characters.
fn base64_core(secret: &[u8], offset: usize, engine: &impl base64::Engine) -> String {
    let mut padded = vec![0u8; offset];
    padded.extend_from_slice(secret);
    padded.extend_from_slice(&[0, 0]);
    let encoded = engine.encode(&padded);
    // Character i covers bits [6i, 6i + 6); the secret covers bits
    // [8 * offset, 8 * (offset + len)). Keep the characters inside it.
    let first = (8 * offset).div_ceil(6);
    let end = (8 * (offset + secret.len())) / 6;
    encoded.get(first..end).unwrap_or_default().to_owned()
}

/// Case of percent-encoding hex digits.
#[derive(Clone, Copy)]
enum Hex {
    Upper,
    Lower,
}

/// `text` with every byte that `keep` refuses written as `%XX`.
fn percent_encode(text: &str, keep: fn(u8) -> bool, hex: Hex) -> String {
    let digits: &[u8; 16] = match hex {
        Hex::Upper => b"0123456789ABCDEF",
        Hex::Lower => b"0123456789abcdef",
    };
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(digits[usize::from(b >> 4)]));
            out.push(char::from(digits[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// RFC 3986 unreserved characters.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Characters `application/x-www-form-urlencoded` leaves as they are.
fn is_form_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_')
}

#[cfg(test)]
mod tests;
