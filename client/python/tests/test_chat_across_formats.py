"""A chat completions tool loop, driven by the official `openai` SDK, whose first
candidate's token is dead and whose chain candidate speaks Anthropic's Messages API:
the SDK sees ordinary OpenAI tool calls, and the Anthropic fake receives a valid
Messages request with the same tool-call ids (issue 10)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from harness import TOKEN_INVALIDATED, FakeProviders, Reply, SwitchyardProcess
from test_responses_door import PROVIDERS, config, sdk

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
    ("toolu_w", "get_weather", '{"city": "Paris"}'),
    ("toolu_t", "get_time", '{"tz": "Europe/Paris"}'),
]
QUESTION = [{"role": "user", "content": "Weather and time in Paris?"}]
ANSWERS = {"get_weather": "18C", "get_time": "14:05"}


@pytest.fixture
def fakes() -> Iterator[FakeProviders]:
    f = FakeProviders(PROVIDERS)
    yield f
    f.close()


@pytest.fixture
def door(binary: Path, fakes: FakeProviders, tmp_path: Path) -> Iterator[SwitchyardProcess]:
    proc = SwitchyardProcess(binary, tmp_path, config(fakes, tmp_path / "switchyard.db"))
    for provider in PROVIDERS:
        proc.add_credential(provider, f"{provider}-k1", f"secret-of-{provider}-k1")
    proc.start()
    yield proc
    assert proc.stop() == 0, proc.log.read_text()


def history_after(calls: list) -> list[dict]:
    """The agent's side of the loop: the assistant's calls, then one tool message each."""
    assistant = {
        "role": "assistant",
        "tool_calls": [
            {"id": c.id, "type": "function", "function": c.function.model_dump()} for c in calls
        ],
    }
    results = [
        {"role": "tool", "tool_call_id": c.id, "content": ANSWERS[c.function.name]}
        for c in calls
    ]
    return [*QUESTION, assistant, *results]


def assert_anthropic_request(fakes: FakeProviders) -> None:
    """The exact Messages request of the second turn: tools with input_schema,
    tool_use blocks in the assistant turn and tool_result blocks in one user turn,
    ids as the SDK sent them."""
    sent = fakes.calls("claude")[-1]
    assert sent.path == "/claude/v1/messages"
    assert sent.authorization == "secret-of-claude-k1"
    assert [t["name"] for t in sent.body["tools"]] == ["get_weather", "get_time"]
    assert sent.body["tools"][0]["input_schema"]["required"] == ["city"]
    assert sent.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather and time in Paris?"}]},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_w",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_t",
                    "name": "get_time",
                    "input": {"tz": "Europe/Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_w",
                    "content": [{"type": "text", "text": "18C"}],
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_t",
                    "content": [{"type": "text", "text": "14:05"}],
                },
            ],
        },
    ]


def test_a_tool_loop_falls_from_a_dead_token_to_anthropic(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    fakes.script("codex", Reply.error(401, TOKEN_INVALIDATED))
    fakes.script("claude", Reply.tools(*CALLS), Reply.ok("18C and 14:05 in Paris."))
    client: openai.OpenAI = sdk(door)
    first = client.chat.completions.create(
        model="switchyard/aux/compression",
        messages=QUESTION,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    got = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls]  # type: ignore[union-attr]
    assert got == [(i, n, json.loads(a)) for i, n, a in CALLS]
    final = client.chat.completions.create(
        model="switchyard/aux/compression",
        messages=history_after(calls),  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
    )
    assert final.choices[0].message.content == "18C and 14:05 in Paris."
    assert final.choices[0].finish_reason == "stop"
    # codex answered 401 once and its key is dead: claude served both turns.
    assert fakes.counts() == {"main": 0, "codex": 1, "claude": 2, "resp": 0}
    assert_anthropic_request(fakes)


def test_the_same_loop_streamed_is_assembled_by_the_sdk(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    fakes.script("codex", Reply.error(401, TOKEN_INVALIDATED))
    fakes.script("claude", Reply.tools(*CALLS), Reply.ok("18C and 14:05 in Paris."))
    client: openai.OpenAI = sdk(door)
    with client.chat.completions.stream(
        model="switchyard/aux/compression",
        messages=QUESTION,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
    ) as stream:
        first = stream.get_final_completion()
    calls = first.choices[0].message.tool_calls or []
    assert first.choices[0].finish_reason == "tool_calls"
    assert [c.id for c in calls] == ["toolu_w", "toolu_t"]
    with client.chat.completions.stream(
        model="switchyard/aux/compression",
        messages=history_after(calls),  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "18C and 14:05 in Paris."
    assert fakes.calls("claude")[0].stream
    assert_anthropic_request(fakes)
