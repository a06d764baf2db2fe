//! The pattern heuristic: the second net behind [`super::Scrubber`]. It replaces
//! what merely looks like a key or token (a `Bearer` token, a long run with a key
//! prefix or a long segment mixing letters and digits) in text that may hold a
//! secret Switchyard does not know, such as another tenant's key echoed by a
//! provider. Pure, total, never panics.

use super::REDACTED;

/// Shortest run of `[A-Za-z0-9_.-]` that may be a key or token.
const MIN_SECRET_LEN: usize = 20;

/// Replaces what looks like a secret with [`REDACTED`]: the token after
/// `Bearer`, and any run of 20+ `[A-Za-z0-9_.-]` that starts with a key prefix
/// (`sk-`, `eyJ`...) or holds a 16+ character segment mixing letters and digits.
pub fn redact(text: &str) -> String {
    redact_runs(&redact_bearer(text))
}

fn is_run_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

fn looks_like_secret(run: &str) -> bool {
    if run.len() < MIN_SECRET_LEN {
        return false;
    }
    if ["sk-", "sk_", "Bearer", "eyJ", "xai-", "gsk_", "AIza"]
        .iter()
        .any(|p| run.starts_with(p))
    {
        return true;
    }
    // Keys carry a long unbroken alphanumeric segment mixing letters and digits;
    // model names (`claude-3-5-sonnet-20241022`) are short segments between dashes.
    run.split(['-', '_', '.']).any(|segment| {
        segment.len() >= SECRET_SEGMENT_LEN
            && segment.bytes().any(|b| b.is_ascii_alphabetic())
            && segment.bytes().any(|b| b.is_ascii_digit())
    })
}

/// Shortest unbroken alphanumeric segment that makes a run look like a key.
const SECRET_SEGMENT_LEN: usize = 16;

fn redact_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(is_run_char) {
        out.push_str(&rest[..start]);
        let from = &rest[start..];
        let len = from.find(|c| !is_run_char(c)).unwrap_or(from.len());
        // A trailing `.` ends a sentence, not a key: it stays.
        let run = from[..len].trim_end_matches('.');
        if looks_like_secret(run) {
            out.push_str(REDACTED);
            rest = &from[run.len()..];
        } else {
            out.push_str(&from[..len]);
            rest = &from[len..];
        }
    }
    out.push_str(rest);
    out
}

/// `Bearer <anything>` (any case) becomes `Bearer [redacted]`.
fn redact_bearer(text: &str) -> String {
    const WORD: &str = "bearer";
    // ASCII lowercasing keeps byte offsets, so indices into `lower` are valid in `text`.
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find(WORD) {
        let at = search + found;
        let after = at + WORD.len();
        search = after;
        let starts_word = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let tail = &text[after..];
        let gap = tail.len() - tail.trim_start().len();
        if !starts_word || gap == 0 || gap == tail.len() {
            continue;
        }
        let token_start = after + gap;
        let token_len = text[token_start..]
            .find(char::is_whitespace)
            .unwrap_or(text.len() - token_start);
        out.push_str(&text[copied..token_start]);
        out.push_str(REDACTED);
        copied = token_start + token_len;
        search = copied;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_ordinary_words() {
        let cases = [
            "The model gpt-4o does not exist",
            "internationalization_considerations_apply",
            "12345678901234567890123",
            "see https://platform.openai.com/account/rate-limits",
            "2024-05-01T12:00:00Z",
            "Bearer",
            "unbearer x",
        ];
        for text in cases {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn redaction_replaces_keys_and_bearer_tokens() {
        let cases = [
            // Split so that secret scanners do not flag a made-up key.
            (
                concat!("key sk-", "abcdefghijklmnopqrstu end"),
                "key [redacted] end",
            ),
            ("id=req_011CSHoEeqs5C35K2UUqRQ7Y;", "id=[redacted];"),
            (
                "Authorization: Bearer abc",
                "Authorization: Bearer [redacted]",
            ),
            ("bearer  short tail", "bearer  [redacted] tail"),
            ("BEARER x", "BEARER [redacted]"),
            ("t: eyJhbGciOiJIUzI1NiJ9xxxxxx", "t: [redacted]"),
            ("Bearerabcdefghijklmnopqrstuvw", "[redacted]"),
            ("€ sk-proj-AbCdEf0123456789XYZabc €", "€ [redacted] €"),
        ];
        for (text, expected) in cases {
            assert_eq!(redact(text), expected, "{text}");
        }
    }
}
