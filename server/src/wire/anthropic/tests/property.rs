//! Property: nothing is lost.

use super::*;

/// A small reproducible generator (splitmix64), so the property runs the same
/// cases everywhere without a dependency.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn text(&mut self) -> String {
        const ALPHABET: [&str; 12] = [
            "a", "Z", " ", "\"", "\\", "\n", "é", "漢", "🙂", "{", "}", "\u{0}",
        ];
        let len = 1 + self.below(12);
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize])
            .collect()
    }

    fn image(&mut self) -> Part {
        let source = if self.below(2) == 0 {
            ImageSource::Url {
                url: format!("https://img.test/{}.png", self.next()),
            }
        } else {
            ImageSource::Base64 {
                media_type: "image/jpeg".into(),
                data: format!("{:x}==", self.next()),
            }
        };
        Part::Image(Image {
            source,
            detail: None,
        })
    }

    fn parts(&mut self, min: u64, images: bool) -> Vec<Part> {
        (0..min + self.below(3))
            .map(|_| {
                if images && self.below(3) == 0 {
                    self.image()
                } else {
                    Part::text(self.text())
                }
            })
            .collect()
    }

    fn arguments(&mut self) -> String {
        let fields: Vec<String> = (0..self.below(3))
            .map(|i| {
                let value = serde_json::to_string(&self.text()).unwrap();
                format!("\"k{i}\":{value}")
            })
            .collect();
        format!("{{{}}}", fields.join(","))
    }

    fn conversation(&mut self) -> Vec<Message> {
        let mut messages = Vec::new();
        let mut open_calls: Vec<String> = Vec::new();
        for _ in 0..1 + self.below(10) {
            let message = match self.below(5) {
                0 => Message {
                    parts: self.parts(1, false),
                    ..Message::text(
                        if self.below(2) == 0 {
                            Role::System
                        } else {
                            Role::Developer
                        },
                        "",
                    )
                },
                1 => Message {
                    parts: self.parts(1, true),
                    ..Message::text(Role::User, "")
                },
                2 => {
                    let calls: Vec<ToolCall> = (0..self.below(3))
                        .map(|_| ToolCall {
                            id: format!("toolu_{}", self.next()),
                            name: format!("f{}", self.below(4)),
                            arguments: self.arguments(),
                        })
                        .collect();
                    open_calls.extend(calls.iter().map(|c| c.id.clone()));
                    let min = u64::from(calls.is_empty());
                    Message {
                        parts: self.parts(min, false),
                        ..Message::assistant_calls(None, calls)
                    }
                }
                _ if !open_calls.is_empty() => {
                    let id = open_calls.remove(self.below(open_calls.len() as u64) as usize);
                    Message {
                        parts: self.parts(0, true),
                        ..Message::tool_result(id, "")
                    }
                }
                _ => Message::text(Role::User, self.text()),
            };
            messages.push(message);
        }
        messages
    }
}

/// What a non-instruction message carries, in a flat sequence.
#[derive(Debug, PartialEq)]
enum Item {
    Text(&'static str, String),
    Image(&'static str, ImageSource),
    Call(String, String, String),
    Result(String, Vec<Item>),
}

fn role_name(role: Role) -> &'static str {
    if role == Role::Assistant {
        "assistant"
    } else {
        "user"
    }
}

fn expected_items(messages: &[Message]) -> (Option<String>, Vec<Item>) {
    let system: Vec<String> = messages
        .iter()
        .filter(|m| m.role.is_instruction())
        .map(Message::text_content)
        .collect();
    let part_items = |role, parts: &[Part]| -> Vec<Item> {
        parts
            .iter()
            .map(|p| match p {
                Part::Text { text } => Item::Text(role, text.clone()),
                Part::Image(i) => Item::Image(role, i.source.clone()),
            })
            .collect()
    };
    let mut items = Vec::new();
    for m in messages.iter().filter(|m| !m.role.is_instruction()) {
        let role = role_name(m.role);
        if m.role == Role::Tool {
            items.push(Item::Result(
                m.tool_call_id.clone().unwrap(),
                part_items(role, &m.parts),
            ));
            continue;
        }
        items.extend(part_items(role, &m.parts));
        items.extend(
            m.tool_calls
                .iter()
                .map(|c| Item::Call(c.id.clone(), c.name.clone(), c.arguments.clone())),
        );
    }
    ((!system.is_empty()).then(|| system.join("\n\n")), items)
}

/// The reference decoder: reads an Anthropic request back, independently of the
/// serialiser's types, and checks the API's alternation of roles.
fn decode(body: &[u8]) -> (Option<String>, Vec<Item>) {
    #[derive(serde::Deserialize)]
    struct Req {
        system: Option<String>,
        messages: Vec<TurnIn>,
    }
    #[derive(serde::Deserialize)]
    struct TurnIn {
        role: String,
        content: Vec<Value>,
    }
    fn block(role: &'static str, b: &Value) -> Item {
        match b["type"].as_str().unwrap() {
            "text" => Item::Text(role, b["text"].as_str().unwrap().to_owned()),
            "image" => {
                let s = &b["source"];
                Item::Image(
                    role,
                    match s["type"].as_str().unwrap() {
                        "url" => ImageSource::Url {
                            url: s["url"].as_str().unwrap().into(),
                        },
                        "base64" => ImageSource::Base64 {
                            media_type: s["media_type"].as_str().unwrap().into(),
                            data: s["data"].as_str().unwrap().into(),
                        },
                        other => panic!("image source {other}"),
                    },
                )
            }
            "tool_use" => Item::Call(
                b["id"].as_str().unwrap().into(),
                b["name"].as_str().unwrap().into(),
                b["input"].to_string(),
            ),
            "tool_result" => Item::Result(
                b["tool_use_id"].as_str().unwrap().into(),
                b.get("content")
                    .map(|c| {
                        c.as_array()
                            .unwrap()
                            .iter()
                            .map(|b| block(role, b))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            other => panic!("block {other}"),
        }
    }
    let req: Req = serde_json::from_slice(body).unwrap();
    let mut items = Vec::new();
    let mut last_role = None;
    for turn in &req.messages {
        assert_ne!(last_role, Some(turn.role.clone()), "roles must alternate");
        assert!(!turn.content.is_empty(), "turns are never empty");
        let role = if turn.role == "assistant" {
            "assistant"
        } else {
            assert_eq!(turn.role, "user");
            "user"
        };
        items.extend(turn.content.iter().map(|b| block(role, b)));
        last_role = Some(turn.role.clone());
    }
    (req.system, items)
}

/// Tool inputs are compared as JSON values (the decoder re-serialises them).
fn normalise(items: Vec<Item>) -> Vec<Item> {
    items
        .into_iter()
        .map(|i| match i {
            Item::Call(id, name, args) => Item::Call(
                id,
                name,
                serde_json::from_str::<Value>(&args).unwrap().to_string(),
            ),
            Item::Result(id, inner) => Item::Result(id, normalise(inner)),
            other => other,
        })
        .collect()
}

#[test]
fn any_conversation_survives_translation_with_every_message_part_call_and_id() {
    let cases = std::env::var("SWITCHYARD_PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(500u64);
    for seed in 0..cases {
        let mut g = Gen(seed);
        let messages = g.conversation();
        let request = ChatRequest::new(messages.clone());
        let bytes = match request_body("m", &request, g.below(2) == 0) {
            Ok(b) => b,
            // Only a conversation of instructions alone has nothing to send... and
            // that is still a valid body; nothing else may be refused here.
            Err(e) => panic!("seed {seed}: {e}"),
        };
        let (want_system, want_items) = expected_items(&messages);
        let (system, items) = decode(&bytes);
        assert_eq!(system, want_system, "seed {seed}");
        assert_eq!(normalise(items), normalise(want_items), "seed {seed}");
    }
}
