"""The OpenAI-compatible HTTP front door, driven by the official `openai` SDK from
PyPI pointed at the real server's base URL: whole and streamed completions, an
auxiliary task whose provider answers 401 and falls through, errors, models. The
fake providers count their calls, so each test asserts the exact attempts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from harness import (
    CLIENT_TOKEN,
    STREAM_DROP,
    TOKEN_INVALIDATED,
    FakeProviders,
    Reply,
    SwitchyardProcess,
    standard_config,
)

PROVIDERS = ["main", "codex", "cheap"]


@pytest.fixture
def door(binary: Path, fakes: FakeProviders, tmp_path: Path) -> Iterator[SwitchyardProcess]:
    """The real server with its OpenAI-compatible front door on 127.0.0.1:0."""
    config = standard_config(fakes, tmp_path / "switchyard.db") + "openai_listen: 127.0.0.1:0\n"
    proc = SwitchyardProcess(binary, tmp_path, config)
    for provider in PROVIDERS:
        proc.add_credential(provider, f"{provider}-k1", f"secret-of-{provider}-k1")
    proc.start()
    assert proc.openai_base_url.endswith("/v1")
    yield proc
    assert proc.stop() == 0, proc.log.read_text()


def sdk(door: SwitchyardProcess, **kwargs: object) -> openai.OpenAI:
    """An OpenAI client whose only change is the base URL (and the agent token as key).
    The SDK's own retries stay on: the tests prove Switchyard turns them off."""
    return openai.OpenAI(base_url=door.openai_base_url, api_key=CLIENT_TOKEN, **kwargs)  # type: ignore[arg-type]


MESSAGES = [
    {"role": "system", "content": "Summarise."},
    {"role": "user", "content": "a long conversation"},
]


def test_aux_task_401_falls_through_to_its_chain(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    fakes.script("codex", Reply.error(401, TOKEN_INVALIDATED))
    # The one-line change of the README: base URL, token, task header.
    aux = sdk(door, default_headers={"X-Switchyard-Task": "compression"})
    raw = aux.chat.completions.with_raw_response.create(model="codex-mini", messages=MESSAGES)
    completion = raw.parse()
    assert completion.choices[0].message.content == "answer from cheap"
    assert completion.choices[0].finish_reason == "stop"
    extra = completion.model_extra or {}
    trail = extra["switchyard"]
    assert trail["provider"] == "cheap"
    assert trail["fallbacks"] == 1
    assert [a["action"] for a in trail["attempts"]] == ["next_candidate", "succeed"]
    assert trail["attempts"][0]["error_class"] == "auth_terminal"
    assert raw.headers["x-switchyard-fallbacks"] == "1"
    assert raw.headers["x-switchyard-trail"].startswith("0 codex codex-mini auth_terminal 401")
    assert raw.headers["x-switchyard-request-id"] == trail["request_id"]
    assert fakes.counts() == {"main": 0, "codex": 1, "cheap": 1}
    # The header's task, with the SDK's model overriding the task's first candidate.
    assert [c.model for c in fakes.calls()] == ["codex-mini", "cheap-model"]


def test_streamed_aux_task_401_falls_through_before_the_first_token(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    fakes.script("codex", Reply.error(401, TOKEN_INVALIDATED))
    fakes.script("cheap", Reply.stream("A ", "short ", "summary."))
    client = sdk(door)
    stream = client.chat.completions.create(
        model="switchyard/aux/compression",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "A short summary."
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    first = (chunks[0].model_extra or {})["switchyard"]
    assert first["provider"] == "cheap"
    assert [a["action"] for a in first["attempts"]] == ["next_candidate", "succeed"]
    assert fakes.counts() == {"main": 0, "codex": 1, "cheap": 1}
    assert [c.stream for c in fakes.calls()] == [True, True]


def test_primary_whole_and_streamed(door: SwitchyardProcess, fakes: FakeProviders) -> None:
    client = sdk(door)
    whole = client.chat.completions.create(model="switchyard/primary", messages=MESSAGES)
    assert whole.choices[0].message.content == "answer from main"
    assert whole.usage is not None
    streamed = client.chat.completions.create(
        model="switchyard/primary", messages=MESSAGES, stream=True
    )
    pieces = [
        c.choices[0].delta.content for c in streamed if c.choices and c.choices[0].delta.content
    ]
    assert pieces == ["answer ", "from ", "main"]
    assert fakes.counts() == {"main": 2, "codex": 0, "cheap": 0}


def test_a_stream_cut_after_text_raises_in_the_sdk(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    fakes.script("main", Reply.stream("Hel", "lo", end=STREAM_DROP))
    client = sdk(door)
    stream = client.chat.completions.create(
        model="switchyard/primary", messages=MESSAGES, stream=True
    )
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert received == ["Hel", "lo"]
    assert "stream interrupted" in caught.value.message
    assert caught.value.code == "stream_interrupted"
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["switchyard"]["attempts"][-1]["action"] == "stop_stream"
    # No failover after text, and no SDK retry.
    assert fakes.counts() == {"main": 1, "codex": 0, "cheap": 0}


def test_errors_map_to_the_sdk_exceptions_without_sdk_retries(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    client = sdk(door)
    # Every candidate fails three times (a try and the policy's two retries), then
    # would answer: 503 with x-should-retry: false, so the SDK does not try again.
    for name in ("codex", "cheap", "main"):
        fakes.script(name, *[Reply.error(500, '{"error":{"message":"boom"}}')] * 3)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="switchyard/aux/compression", messages=MESSAGES)
    assert caught.value.status_code == 503
    assert caught.value.code == "all_candidates_failed"
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert fakes.counts() == {"main": 3, "codex": 3, "cheap": 3}

    with pytest.raises(openai.NotFoundError) as not_found:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert not_found.value.code == "model_not_found"

    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="switchyard/primary", messages=[], max_tokens=-1)
    assert bad.value.param == "messages"

    wrong_key = openai.OpenAI(base_url=door.openai_base_url, api_key="not-a-token")
    with pytest.raises(openai.AuthenticationError):
        wrong_key.chat.completions.create(model="switchyard/primary", messages=MESSAGES)
    with pytest.raises(openai.AuthenticationError):
        wrong_key.models.list()
    # None of these reached a provider.
    assert fakes.counts() == {"main": 3, "codex": 3, "cheap": 3}


def test_models_list_every_caller(door: SwitchyardProcess) -> None:
    ids = [m.id for m in sdk(door).models.list()]
    assert ids[0] == "switchyard/primary"
    assert "switchyard/aux/compression" in ids
    assert "switchyard/aux/slow" in ids
    assert sdk(door).models.retrieve("switchyard/aux/compression").owned_by == "switchyard"


# === The whole chat: tools, tool results, images, structured output ===

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
        },
    },
]

CALLS = [
    ("call_w", "get_weather", '{"city":"Paris"}'),
    ("call_t", "get_time", '{"tz":"Europe/Paris"}'),
]

QUESTION = [{"role": "user", "content": "Weather and time in Paris?"}]


def run_tools(calls: list) -> list[dict]:
    """The agent's side of the loop: one tool message per call."""
    answers = {"get_weather": "18C", "get_time": "14:05"}
    return [
        {"role": "tool", "tool_call_id": c.id, "content": answers[c.function.name]} for c in calls
    ]


def assert_tool_history_reached(call_body: dict) -> None:
    """The provider got the assistant's tool calls and the results, ids intact."""
    messages = call_body["messages"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["call_w", "call_t"]
    assert messages[1]["tool_calls"][0]["function"]["arguments"] == '{"city":"Paris"}'
    assert messages[2] == {"role": "tool", "content": "18C", "tool_call_id": "call_w"}
    assert messages[3] == {"role": "tool", "content": "14:05", "tool_call_id": "call_t"}
    assert call_body["tools"] == TOOLS


def test_a_tool_loop_survives_a_dead_token(door: SwitchyardProcess, fakes: FakeProviders) -> None:
    fakes.script("codex", Reply.error(401, TOKEN_INVALIDATED))
    fakes.script("cheap", Reply.tools(*CALLS), Reply.ok("18C and 14:05 in Paris."))
    client = sdk(door)
    first = client.chat.completions.create(
        model="switchyard/aux/compression", messages=QUESTION, tools=TOOLS
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == CALLS
    history = [*QUESTION, choice.message.model_dump(exclude_none=True), *run_tools(calls)]
    final = client.chat.completions.create(
        model="switchyard/aux/compression", messages=history, tools=TOOLS
    )
    assert final.choices[0].message.content == "18C and 14:05 in Paris."
    assert final.choices[0].finish_reason == "stop"
    # codex answered 401 once, and its key is dead: cheap served both turns.
    assert fakes.counts() == {"main": 0, "codex": 1, "cheap": 2}
    assert fakes.calls("codex")[0].body["tools"] == TOOLS
    assert_tool_history_reached(fakes.calls("cheap")[1].body)


def test_a_streamed_tool_loop_is_assembled_by_the_sdk(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    fakes.script("codex", Reply.error(401, TOKEN_INVALIDATED))
    fakes.script("cheap", Reply.tools(*CALLS), Reply.ok("18C and 14:05 in Paris."))
    client = sdk(door)
    with client.chat.completions.stream(
        model="switchyard/aux/compression", messages=QUESTION, tools=TOOLS
    ) as stream:
        first = stream.get_final_completion()
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == CALLS
    history = [
        *QUESTION,
        {
            "role": "assistant",
            "tool_calls": [
                {"id": c.id, "type": "function", "function": c.function.model_dump()}
                for c in calls
            ],
        },
        *run_tools(calls),
    ]
    with client.chat.completions.stream(
        model="switchyard/aux/compression", messages=history, tools=TOOLS
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "18C and 14:05 in Paris."
    assert fakes.calls("cheap")[0].stream
    assert_tool_history_reached(fakes.calls("cheap")[1].body)


def test_a_vision_task_sends_an_image_part(door: SwitchyardProcess, fakes: FakeProviders) -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    reply = sdk(door).chat.completions.create(
        model="switchyard/aux/compression",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": image, "detail": "low"}},
                ],
            }
        ],
    )
    assert reply.choices[0].message.content == "answer from codex"
    sent = fakes.calls("codex")[0].body["messages"][0]["content"]
    assert sent[1] == {"type": "image_url", "image_url": {"url": image, "detail": "low"}}


def test_fields_not_carried_are_refused_by_name(door: SwitchyardProcess) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        sdk(door, max_retries=0).chat.completions.create(
            model="switchyard/primary", messages=QUESTION, n=2
        )
    assert refused.value.param == "n"
