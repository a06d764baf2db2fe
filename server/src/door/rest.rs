//! Wire objects read in one pass: the fields a door carries, typed, and every
//! other field kept aside in `rest` to be refused or ignored by name.
//!
//! serde's `#[serde(flatten)]` would do the same, but it first buffers the whole
//! object into an untyped tree (a node, and a vector per object and list) and then
//! reads the tree again, and a field kept as raw JSON text cannot be read from the
//! tree at all. The tree borrows a string without escapes from the body, so the
//! strings themselves are not copied twice either way.
//! [`with_rest!`](crate::door::rest) reads each field once, straight from the body.
//! It knows nothing of any API: each door's types name their own fields.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Error, MapAccess, SeqAccess, Visitor, value::SeqAccessDeserializer};
use serde::{Deserialize, Deserializer};

/// `impl Deserialize` for a struct of `required` fields, `defaulted` fields
/// (`Default` when absent), and `rest: serde_json::Map<String, Value>` for every
/// other field. `kind = "type"` reads field `kind` from the wire name `type`. A
/// repeated field is an error, as with serde's derive; an unknown field's value
/// goes to `rest` as JSON.
macro_rules! with_rest {
    (@wire $field:ident) => { stringify!($field) };
    (@wire $field:ident $wire:literal) => { $wire };
    ($ty:ident {
        required: [$($req:ident $(= $req_wire:literal)?),* $(,)?],
        defaulted: [$($def:ident $(= $def_wire:literal)?),* $(,)?] $(,)?
    }) => {
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Fields;
                impl<'de> ::serde::de::Visitor<'de> for Fields {
                    type Value = $ty;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(concat!("struct ", stringify!($ty)))
                    }
                    fn visit_map<A: ::serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$ty, A::Error> {
                        $(let mut $req = None;)*
                        $(let mut $def = None;)*
                        let mut rest = ::serde_json::Map::new();
                        while let Some($crate::door::rest::Key(key)) = map.next_key()? {
                            match &*key {
                                $($crate::door::rest::with_rest!(@wire $req $($req_wire)?) => {
                                    $crate::door::rest::once(
                                        &mut $req,
                                        $crate::door::rest::with_rest!(@wire $req $($req_wire)?),
                                        &mut map,
                                    )?
                                })*
                                $($crate::door::rest::with_rest!(@wire $def $($def_wire)?) => {
                                    $crate::door::rest::once(
                                        &mut $def,
                                        $crate::door::rest::with_rest!(@wire $def $($def_wire)?),
                                        &mut map,
                                    )?
                                })*
                                _ => {
                                    let value = map.next_value()?;
                                    rest.insert(key.into_owned(), value);
                                }
                            }
                        }
                        Ok($ty {
                            $($req: $req.ok_or_else(|| {
                                <A::Error as ::serde::de::Error>::missing_field(
                                    $crate::door::rest::with_rest!(@wire $req $($req_wire)?),
                                )
                            })?,)*
                            $($def: $def.unwrap_or_default(),)*
                            rest,
                        })
                    }
                }
                d.deserialize_map(Fields)
            }
        }
    };
}
pub(crate) use with_rest;

/// An object's key, borrowed from the body when it has no escapes.
pub(crate) struct Key<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// Reads the value of field `name` into `slot`; a second `name` in one object is
/// an error.
pub(crate) fn once<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    slot: &mut Option<T>,
    name: &'static str,
    map: &mut A,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(A::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

/// A value that is a string or a list (a message's content, a request's input),
/// read by the JSON type it meets: `text` makes the string's variant, `list` the
/// list's. An untagged enum would first buffer the whole value into a tree (every
/// item of a conversation) and then read the tree again for each variant it tries.
pub(crate) fn text_or_list<'de, D, T, L>(
    d: D,
    expecting: &'static str,
    text: fn(String) -> T,
    list: fn(Vec<L>) -> T,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    L: Deserialize<'de>,
{
    struct Either<T, L> {
        expecting: &'static str,
        text: fn(String) -> T,
        list: fn(Vec<L>) -> T,
        of: PhantomData<L>,
    }
    impl<'de, T, L: Deserialize<'de>> Visitor<'de> for Either<T, L> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: Error>(self, v: &str) -> Result<T, E> {
            Ok((self.text)(v.to_owned()))
        }
        fn visit_string<E: Error>(self, v: String) -> Result<T, E> {
            Ok((self.text)(v))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
            Vec::deserialize(SeqAccessDeserializer::new(seq)).map(self.list)
        }
    }
    d.deserialize_any(Either {
        expecting,
        text,
        list,
        of: PhantomData,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    #[derive(Debug)]
    struct Thing {
        kind: String,
        name: String,
        size: Option<u32>,
        tags: Vec<String>,
        rest: Map<String, Value>,
    }

    super::with_rest!(Thing {
        required: [kind = "type", name],
        defaulted: [size, tags],
    });

    #[test]
    fn known_fields_are_typed_and_the_others_kept_aside() {
        let body = r#"{"size":3,"x\"y":[1],"type":"t","name":"a","kind":null}"#;
        let t: Thing = serde_json::from_str(body).unwrap();
        assert_eq!(
            (t.kind.as_str(), t.name.as_str(), t.size),
            ("t", "a", Some(3))
        );
        assert!(t.tags.is_empty());
        assert_eq!(Value::Object(t.rest), json!({"x\"y": [1], "kind": null}));
    }

    #[test]
    fn a_missing_required_field_a_repeated_field_or_a_wrong_type_is_an_error() {
        let missing = serde_json::from_str::<Thing>(r#"{"type":"t","size":3}"#).unwrap_err();
        assert!(missing.to_string().contains("missing field `name`"));
        let wire = serde_json::from_str::<Thing>(r#"{"kind":"t","name":"a"}"#).unwrap_err();
        assert!(wire.to_string().contains("missing field `type`"), "{wire}");
        let twice =
            serde_json::from_str::<Thing>(r#"{"type":"t","name":"a","name":"b"}"#).unwrap_err();
        assert!(twice.to_string().contains("duplicate field `name`"));
        let wrong =
            serde_json::from_str::<Thing>(r#"{"type":"t","name":"a","size":"big"}"#).unwrap_err();
        assert!(wrong.to_string().contains("invalid type"), "{wrong}");
        let not_object = serde_json::from_str::<Thing>("[1]").unwrap_err();
        assert!(
            not_object.to_string().contains("struct Thing"),
            "{not_object}"
        );
    }

    #[test]
    fn a_null_defaulted_field_is_absent() {
        let t: Thing = serde_json::from_str(r#"{"type":"t","name":"a","size":null}"#).unwrap();
        assert_eq!(t.size, None);
    }

    #[derive(Debug, PartialEq)]
    enum Content {
        Text(String),
        Parts(Vec<u8>),
    }

    impl<'de> serde::Deserialize<'de> for Content {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            super::text_or_list(d, "text or numbers", Content::Text, Content::Parts)
        }
    }

    #[test]
    fn a_string_or_a_list_is_read_by_its_json_type() {
        let read = |s: &str| serde_json::from_str::<Content>(s).map_err(|e| e.to_string());
        assert_eq!(read(r#""a\"b""#), Ok(Content::Text("a\"b".into())));
        assert_eq!(read("[1, 2]"), Ok(Content::Parts(vec![1, 2])));
        assert!(read("{}").unwrap_err().contains("expected text or numbers"));
        assert!(read("[1, -2]").unwrap_err().contains("invalid value"));
    }

    #[test]
    fn the_path_of_a_fault_is_still_named() {
        let mut de =
            serde_json::Deserializer::from_str(r#"{"type":"t","name":"a","tags":["x",2]}"#);
        let e = serde_path_to_error::deserialize::<_, Thing>(&mut de).unwrap_err();
        assert_eq!(e.path().to_string(), "tags[1]");
    }
}
