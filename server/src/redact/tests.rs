//! The scrubber against every encoding, overlaps, edges, multibyte text and
//! truncation; the input rules of secrets.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};

use super::*;

const UUID: &str = "3f2b8c1e-4d5a-4b6c-9e7f-0a1b2c3d4e5f";
const DASHED: &str = "ab12-cd34-ef56-gh78";
const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJl";
const OPAQUE: &str = "ya29.a0AfB_byC-Q9xLm";
/// A secret with the characters every encoding treats specially.
const SPECIAL: &str = "tok/en+with=special\"chars\\~";

fn scrubber(secrets: &[&str]) -> Scrubber {
    let owned: Vec<SecretString> = secrets
        .iter()
        .map(|s| SecretString::from((*s).to_owned()))
        .collect();
    Scrubber::new(&owned)
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if is_unreserved(b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Asserts that `text`, scrubbed of `secret`, holds no trace of it: neither the
/// secret nor any 8-character piece of `form`.
fn assert_gone(secret: &str, form: &str, text: &str) {
    let out = scrubber(&[secret]).scrub(text).into_owned();
    assert!(out.contains(REDACTED), "{form:?} not redacted in {out:?}");
    assert!(!out.contains(secret), "{secret:?} left in {out:?}");
    let chars: Vec<char> = form.chars().collect();
    for piece in chars.windows(MIN_SECRET_CHARS + 1) {
        let piece: String = piece.iter().collect();
        assert!(
            !out.contains(&piece),
            "{piece:?} of {form:?} left in {out:?}"
        );
    }
}

#[test]
fn every_shape_of_key_is_removed_verbatim() {
    for secret in [UUID, DASHED, JWT, OPAQUE, SPECIAL] {
        assert_gone(
            secret,
            secret,
            &format!("Incorrect API key provided: {secret}. See the docs."),
        );
    }
}

#[test]
fn percent_encoded_secrets_are_removed_in_either_hex_case_and_as_form_data() {
    let upper = percent(SPECIAL);
    assert_ne!(upper, SPECIAL, "the test secret needs escaping");
    assert_gone(SPECIAL, &upper, &format!("GET /v1?key={upper}&x=1"));
    let lower = percent_encode(SPECIAL, is_unreserved, Hex::Lower);
    assert_ne!(lower, upper);
    assert_gone(SPECIAL, &lower, &format!("key={lower}"));
    let form = percent_encode(SPECIAL, is_form_safe, Hex::Upper);
    assert_gone(
        SPECIAL,
        &form,
        &format!("refresh_token={form}&grant_type=x"),
    );
}

#[test]
fn json_escaped_secrets_are_removed_with_or_without_escaped_slashes() {
    let plain = serde_json::to_string(SPECIAL).unwrap();
    let plain = &plain[1..plain.len() - 1];
    assert_gone(
        SPECIAL,
        plain,
        &format!(r#"headers: {{"x-api-key":"{plain}"}}"#),
    );
    let slashed = plain.replace('/', "\\/");
    assert_gone(SPECIAL, &slashed, &format!(r#"{{"k":"{slashed}"}}"#));
}

#[test]
fn base64_and_base64url_secrets_are_removed_padded_or_not() {
    for secret in [UUID, DASHED, JWT, OPAQUE, SPECIAL] {
        for encoded in [
            STANDARD.encode(secret),
            URL_SAFE.encode(secret),
            URL_SAFE_NO_PAD.encode(secret),
        ] {
            assert_gone(secret, &encoded, &format!("token {encoded} refused"));
        }
    }
}

#[test]
fn base64_finds_the_secret_inside_a_longer_value_at_any_offset() {
    // `Basic base64(id:secret)` and any prefix length: the secret starts at each
    // of the three byte offsets of a base64 group.
    for prefix in ["", "c", "cl", "client:", "client-id:", "x:"] {
        for secret in [UUID, DASHED, SPECIAL] {
            let value = format!("{prefix}{secret}!trailer");
            for encoded in [STANDARD.encode(&value), URL_SAFE_NO_PAD.encode(&value)] {
                let out = scrubber(&[secret]).scrub(&encoded).into_owned();
                assert!(out.contains(REDACTED), "{value:?}: {out:?}");
                // What is left cannot decode back to the secret: at most the
                // prefix, the trailer and two boundary characters remain.
                let left = out.replace(REDACTED, "");
                assert!(
                    left.len() <= encoded.len() - secret.len() * 4 / 3 + 4,
                    "{value:?}: {out:?}"
                );
            }
        }
    }
}

#[test]
fn base64_percent_encoded_in_a_query_string_is_removed() {
    let encoded = STANDARD.encode(SPECIAL);
    let query = percent(&encoded);
    assert_ne!(query, encoded);
    let out = scrubber(&[SPECIAL])
        .scrub(&format!("?t={query}"))
        .into_owned();
    assert!(out.starts_with("?t=[redacted]"), "{out:?}");
    assert!(out.len() <= "?t=[redacted]".len() + 6, "{out:?}");
}

#[test]
fn overlapping_secrets_are_both_removed_whole() {
    let a = "abcdefgh12";
    let b = "gh12345678zz";
    let s = scrubber(&[a, b]);
    assert_eq!(s.scrub("xx abcdefgh12345678zz yy"), "xx [redacted] yy");
    // One inside the other.
    let s = scrubber(&["0123456789abcdef", "456789ab"]);
    assert_eq!(s.scrub("<0123456789abcdef>"), "<[redacted]>");
    assert_eq!(s.scrub("<456789ab>"), "<[redacted]>");
    // Adjacent occurrences merge.
    let s = scrubber(&[UUID]);
    assert_eq!(s.scrub(&format!("{UUID}{UUID}")), "[redacted]");
}

#[test]
fn secrets_at_the_edges_of_the_text_are_removed() {
    let s = scrubber(&[DASHED]);
    assert_eq!(s.scrub(DASHED), "[redacted]");
    assert_eq!(
        s.scrub(&format!("{DASHED} at start")),
        "[redacted] at start"
    );
    assert_eq!(s.scrub(&format!("at end {DASHED}")), "at end [redacted]");
}

#[test]
fn multibyte_text_around_a_secret_is_kept_intact() {
    let s = scrubber(&[UUID]);
    let text = format!("clé refusée 🙂{UUID}日本語 — ü");
    assert_eq!(s.scrub(&text), "clé refusée 🙂[redacted]日本語 — ü");
}

#[test]
fn text_without_a_secret_is_returned_as_it_is() {
    let s = scrubber(&[UUID, JWT]);
    let text = "401 invalid_api_key: Incorrect API key provided. 日本語";
    assert!(matches!(s.scrub(text), Cow::Borrowed(t) if t == text));
    assert!(matches!(Scrubber::default().scrub(UUID), Cow::Borrowed(_)));
}

#[test]
fn secrets_too_short_to_scrub_are_skipped_and_refused_on_input() {
    let s = scrubber(&["abc123"]);
    assert!(s.is_empty());
    assert_eq!(s.scrub("key abc123 is fine"), "key abc123 is fine");
    assert_eq!(check_secret("abc123"), Err(SecretError::TooShort));
}

#[test]
fn a_scrubber_never_prints_its_secrets() {
    let s = scrubber(&[UUID]);
    let debug = format!("{s:?}");
    assert!(!debug.contains(UUID), "{debug}");
    assert!(debug.contains("patterns"), "{debug}");
}

#[test]
fn scrubbing_happens_before_the_detail_is_cut() {
    // The secret straddles the 200-character cut of the trail detail: cutting
    // first would leave its first half behind, which no exact match finds.
    let message = format!("{} {UUID} tail", "x".repeat(163));
    let body = serde_json::json!({"error": {"message": message, "code": "invalid_api_key"}});
    let body = body.to_string();
    let c = crate::classify::classify_http_scrubbed(
        401,
        &http::HeaderMap::new(),
        body.as_bytes(),
        0,
        &scrubber(&[UUID]),
    );
    assert!(c.detail.chars().count() <= 200, "{}", c.detail);
    assert!(!c.detail.contains(&UUID[..8]), "{}", c.detail);
    assert!(c.detail.contains("[redacted]"), "{}", c.detail);
    // Without the exact secret, the heuristic alone leaves a UUID's prefix.
    let c = crate::classify::classify_http(401, &http::HeaderMap::new(), body.as_bytes(), 0);
    assert!(c.detail.contains(&UUID[..8]), "{}", c.detail);
}

#[test]
fn the_code_and_an_in_stream_error_are_scrubbed_too() {
    let body = format!(r#"{{"error":{{"code":"{DASHED}","message":"bad key {DASHED}"}}}}"#);
    let c = crate::classify::classify_http_scrubbed(
        401,
        &http::HeaderMap::new(),
        body.as_bytes(),
        0,
        &scrubber(&[DASHED]),
    );
    assert_eq!(c.detail, "401 [redacted]: bad key [redacted]");
    let event = format!(
        r#"{{"type":"error","error":{{"type":"authentication_error","message":"x-api-key {OPAQUE}x"}}}}"#
    );
    let c = crate::classify::classify_stream_error_scrubbed(
        200,
        event.as_bytes(),
        &scrubber(&[OPAQUE]),
    );
    assert!(!c.detail.contains(OPAQUE), "{}", c.detail);
    assert!(c.detail.contains("x-api-key [redacted]x"), "{}", c.detail);
}

#[test]
fn secrets_with_control_characters_whitespace_or_non_ascii_are_refused() {
    let cases = [
        ("", SecretError::Empty),
        ("sk-abcdef\r\nX-Injected: 1", SecretError::Control),
        ("sk-abcdefgh\n", SecretError::Control),
        ("sk-abc\0defgh", SecretError::Control),
        ("sk-abc\u{7f}defgh", SecretError::Control),
        ("sk-abc defgh", SecretError::Whitespace),
        ("\tsk-abcdefgh", SecretError::Whitespace),
        ("sk-abc\u{a0}defgh", SecretError::Whitespace),
        ("sk-abcdéfgh", SecretError::NonAscii),
        ("short", SecretError::TooShort),
    ];
    for (secret, want) in cases {
        assert_eq!(check_secret(secret), Err(want), "{secret:?}");
        assert!(!want.to_string().contains(secret) || secret.is_empty());
    }
    assert_eq!(
        check_secret(&"k".repeat(MAX_SECRET_CHARS + 1)),
        Err(SecretError::TooLong)
    );
    for ok in [UUID, DASHED, JWT, OPAQUE, SPECIAL, "12345678"] {
        assert_eq!(check_secret(ok), Ok(()), "{ok:?}");
    }
}

#[test]
fn a_scrubber_that_could_not_be_built_fails_closed() {
    let s = Scrubber {
        patterns: Patterns::Unavailable,
    };
    assert!(!s.is_empty());
    assert_eq!(s.scrub(&format!("bad key {UUID}")), REDACTED);
}
