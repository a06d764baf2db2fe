//! A request body as the door's request type.

use serde::de::DeserializeOwned;

/// Parses `body` as `T`. Most bodies parse: they are read once, without keeping
/// the path of the value being read. Only a body that fails is read again with
/// `serde_path_to_error`, so the error names the field at fault. Data after the
/// value is ignored, both ways. The first read is from the body's text when it is
/// UTF-8, checked once, rather than each string checked apart (`json_body`).
pub(crate) fn parse_body<T: DeserializeOwned>(
    body: &[u8],
) -> Result<T, serde_path_to_error::Error<serde_json::Error>> {
    match crate::json_body::value_at_start(body) {
        Ok(value) => Ok(value),
        Err(_) => {
            let mut de = serde_json::Deserializer::from_slice(body);
            serde_path_to_error::deserialize(&mut de)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Request {
        model: String,
        messages: Vec<Message>,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Message {
        role: String,
    }

    #[test]
    fn a_bad_body_names_the_path_of_its_fault() {
        let e = parse_body::<Request>(br#"{"model":"m","messages":[{"role":1}]}"#).unwrap_err();
        assert_eq!(e.path().to_string(), "messages[0].role");
        let ok: Request = parse_body(br#"{"model":"m","messages":[{"role":"user"}]} "#).unwrap();
        assert_eq!(
            (ok.model.as_str(), ok.messages[0].role.as_str()),
            ("m", "user")
        );
    }
}
