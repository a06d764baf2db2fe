//! A JSON body read as `T`, its UTF-8 checked once.
//!
//! Read from bytes, serde_json checks each string it meets for UTF-8 on its own
//! (a request or an answer holds dozens); read from a `&str`, it checks none. One
//! check of the whole body costs less than the checks of its strings. Owns no wire
//! shape: the doors' requests and the providers' answers both read through it.

use serde::Deserialize;
use serde_json::Deserializer;
use serde_json::de::Read;

/// `body` as `T`, as `serde_json::from_slice` reads it: only whitespace may follow
/// the value. A body that is not UTF-8 is read from its bytes, so that it fails,
/// or passes, exactly as serde_json alone would have it.
pub(crate) fn from_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> serde_json::Result<T> {
    read(body, true)
}

/// The value at the start of `body` as `T`; whatever follows it is not read.
pub(crate) fn value_at_start<'a, T: Deserialize<'a>>(body: &'a [u8]) -> serde_json::Result<T> {
    read(body, false)
}

fn read<'a, T: Deserialize<'a>>(body: &'a [u8], whole: bool) -> serde_json::Result<T> {
    match std::str::from_utf8(body) {
        Ok(text) => value(Deserializer::from_str(text), whole),
        Err(_) => value(Deserializer::from_slice(body), whole),
    }
}

fn value<'a, R: Read<'a>, T: Deserialize<'a>>(
    mut de: Deserializer<R>,
    whole: bool,
) -> serde_json::Result<T> {
    let value = T::deserialize(&mut de)?;
    if whole {
        de.end()?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_reads_the_same_from_its_text_or_its_bytes() {
        let ok: (String, u8) = from_body(b"[\"caf\\u00e9 \xc3\xa9\", 1]".as_slice()).unwrap();
        assert_eq!(ok, ("café é".to_owned(), 1));
        // Not UTF-8 inside a string: serde_json's own error.
        let bad = from_body::<(String, u8)>(b"[\"\xff\", 1]").unwrap_err();
        assert_eq!(
            bad.to_string(),
            serde_json::from_slice::<(String, u8)>(b"[\"\xff\", 1]")
                .unwrap_err()
                .to_string()
        );
    }
}
