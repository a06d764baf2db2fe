"""The whole chat through the client against the real server: a tool loop after a
failover, tool calls streamed as pieces, images and structured output reaching the
provider as sent, and a malformed chat refused by its field."""

from __future__ import annotations

import pytest
from harness import TOKEN_INVALIDATED, Reply

from switchyard_client import InvalidArgument, image, pb, tool

WEATHER = tool(
    "get_weather",
    "Weather of a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
CALLS = [
    ("call_w", "get_weather", '{"city":"Paris"}'),
    ("call_t", "get_time", '{"tz":"Europe/Paris"}'),
]


def test_a_tool_loop_survives_a_dead_token(client, fakes):
    fakes.script("codex", Reply.error(401, TOKEN_INVALIDATED))
    fakes.script("cheap", Reply.tools(*CALLS))
    conversation = [
        {"role": "system", "content": "Use the tools."},
        {"role": "user", "content": "Weather and time in Paris?"},
    ]
    options = {"tools": [WEATHER, TIME], "tool_choice": "auto", "parallel_tool_calls": True}
    answer = client.aux_complete("compression", conversation, **options)
    assert answer.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in answer.tool_calls] == CALLS
    assert answer.served_by.provider == "cheap"
    sent = fakes.calls("cheap")[0].body
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather", "get_time"]
    assert sent["tools"][0]["function"]["parameters"]["required"] == ["city"]
    assert sent["tool_choice"] == "auto"
    assert sent["parallel_tool_calls"] is True

    # Run the tools, send the results back: the answer's ToolCalls go in as they are.
    conversation.append({"role": "assistant", "tool_calls": answer.tool_calls})
    results = {"get_weather": "18C", "get_time": "14:05"}
    for call in answer.tool_calls:
        conversation.append(
            {"role": "tool", "tool_call_id": call.id, "content": results[call.name]}
        )
    fakes.script("cheap", Reply.ok("18C and 14:05 in Paris."))
    last = client.aux_complete("compression", conversation, **options)
    assert last.content == "18C and 14:05 in Paris."
    assert last.finish_reason == "stop"
    assert list(last.tool_calls) == []
    sent = fakes.calls("cheap")[1].body
    assert [c["id"] for c in sent["messages"][2]["tool_calls"]] == ["call_w", "call_t"]
    assert sent["messages"][3] == {"role": "tool", "content": "18C", "tool_call_id": "call_w"}
    assert fakes.counts()["codex"] == 1, "the dead token was not tried again"


def test_streamed_tool_calls_arrive_as_pieces_then_assembled(client, fakes):
    fakes.script("main", Reply.tools(*CALLS))
    with client.complete_stream(
        [{"role": "user", "content": "Weather and time?"}], tools=[WEATHER, TIME]
    ) as stream:
        pieces = list(stream.pieces())
    deltas = [p for p in pieces if isinstance(p, pb.ToolCallDelta)]
    assert len(deltas) == len(pieces), "no text was sent"
    for index, (call_id, name, arguments) in enumerate(CALLS):
        mine = [d for d in deltas if d.index == index]
        assert (mine[0].id, mine[0].name) == (call_id, name)
        assert all(not d.HasField("id") for d in mine[1:])
        assert sum(1 for d in mine if d.arguments) >= 2, "arguments came in one piece"
        assert "".join(d.arguments for d in mine) == arguments
    assert [(c.id, c.name, c.arguments) for c in stream.tool_calls] == CALLS
    assert stream.finished.finish_reason == "tool_calls"


def test_images_and_a_json_schema_reach_the_provider_as_sent(client, fakes):
    png = b"\x89PNG\r\n\x1a\n"
    answer = client.complete(
        [
            {
                "role": "user",
                "content": [
                    "Describe both.",
                    image("https://images.test/cat.png", detail="low"),
                    image(data=png, media_type="image/png"),
                ],
            }
        ],
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "desc",
                "strict": True,
                "schema": {"type": "object", "properties": {"text": {"type": "string"}}},
            },
        },
        seed=4,
        stop="\n\n",
        reasoning_effort="low",
        user="u-1",
    )
    assert answer.finish_reason == "stop"
    sent = fakes.calls("main")[0].body
    assert sent["messages"][0]["content"] == [
        {"type": "text", "text": "Describe both."},
        {"type": "image_url", "image_url": {"url": "https://images.test/cat.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    schema = sent["response_format"]["json_schema"]
    assert (schema["name"], schema["strict"]) == ("desc", True)
    assert schema["schema"]["properties"] == {"text": {"type": "string"}}
    assert (sent["seed"], sent["stop"], sent["reasoning_effort"]) == (4, ["\n\n"], "low")
    assert sent["user"] == "u-1"


def test_a_tool_result_answering_no_call_is_refused_by_field(client, fakes):
    with pytest.raises(InvalidArgument) as caught:
        client.complete(
            [
                {"role": "user", "content": "hi"},
                {"role": "tool", "tool_call_id": "call_nobody_made", "content": "18C"},
            ]
        )
    fields = [v.field for v in caught.value.field_violations]
    assert fields == ["messages.tool_call_id"]
    assert sum(fakes.counts().values()) == 0, "no provider was called"
