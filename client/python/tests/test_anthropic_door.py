"""The Anthropic Messages front door (`/v1/messages`), driven by the official
`anthropic` SDK from PyPI pointed at the real server's base URL. For each caller
(the primary turn and an auxiliary task), the first candidate is an
`openai_responses` provider that answers 401 `token_invalidated`; an `openai`
candidate then serves a whole tool loop, with `messages.create` and with
`messages.stream`. Errors raise the SDK's typed exceptions, and the fakes count
the calls, proving the SDK did not retry what Switchyard already retried."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from harness import (
    CLIENT_TOKEN,
    STREAM_DROP,
    TOKEN_INVALIDATED,
    FakeProviders,
    Reply,
    SwitchyardProcess,
    token_sha256,
)

PROVIDERS = ["codex", "main", "cheap"]

TOOLS = [
    {
        "name": "get_weather",
        "description": "The weather of a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


def config(fakes: FakeProviders, db: Path) -> str:
    """Both callers try `codex` (an `openai_responses` provider) first; the
    primary falls back to `main`, the `compression` task to its chain's `cheap`."""
    return f"""\
listen: 127.0.0.1:0
openai_listen: 127.0.0.1:0
database: {{ path: "{db}" }}
auth:
  client_token_sha256: [ "{token_sha256(CLIENT_TOKEN)}" ]
providers:
  codex: {{ kind: openai_responses, base_url: "{fakes.base_url("codex")}", timeout: 5s }}
  main:  {{ kind: openai, base_url: "{fakes.base_url("main")}", timeout: 5s }}
  cheap: {{ kind: openai, base_url: "{fakes.base_url("cheap")}", timeout: 5s }}
model:
  provider: codex
  model: codex-main
  timeout: 20s
  fallback_providers: [ {{ provider: main, model: main-model }} ]
auxiliary:
  compression:
    provider: codex
    model: codex-mini
    timeout: 20s
    fallback_chain: [ {{ provider: cheap, model: cheap-model }} ]
    last_resort: false
policy: {{ backoff_base: 5ms, backoff_max: 20ms, min_attempt: 50ms }}
"""


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


def sdk(door: SwitchyardProcess, **kwargs: Any) -> anthropic.Anthropic:
    """An Anthropic client whose only change is the base URL (the agent token is
    its `api_key`, sent as `x-api-key`). The SDK's own retries stay on: the tests
    prove Switchyard turns them off."""
    base = door.openai_base_url.removesuffix("/v1")
    return anthropic.Anthropic(base_url=base, api_key=CLIENT_TOKEN, **kwargs)


#: (client options, model, the candidate that serves after codex's 401)
CALLERS = {
    "primary": ({}, "switchyard/primary", "main"),
    # The README's one-line change for an auxiliary client: the task header, and
    # the SDK's model overriding the task's first candidate.
    "aux": (
        {"default_headers": {"X-Switchyard-Task": "compression"}},
        "gpt-5-codex-mini",
        "cheap",
    ),
}


def tool_result_turns(answer: anthropic.types.Message) -> list[dict]:
    """The tool loop's next turns: the assistant's answer as it came, then the result."""
    call = next(b for b in answer.content if b.type == "tool_use")
    return [
        *QUESTION,
        {"role": "assistant", "content": answer.content},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C, sunny"}],
        },
    ]


def assert_loop_calls(fakes: FakeProviders, serving: str, first_model: str) -> None:
    """codex was tried once (then its key is dead, so skipped), the serving
    candidate twice; the second call carried the tool result."""
    calls = fakes.calls()
    assert [(c.provider, c.path.rsplit("/v1", 1)[1]) for c in calls] == [
        ("codex", "/responses"),
        (serving, "/chat/completions"),
        (serving, "/chat/completions"),
    ]
    assert calls[0].model == first_model
    tool_turn = [m for m in calls[2].body["messages"] if m["role"] == "tool"]
    assert tool_turn == [{"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"}]
    assert calls[1].body["tools"][0]["function"]["name"] == "get_weather"


@pytest.mark.parametrize("caller", list(CALLERS))
def test_create_runs_a_tool_loop_after_a_responses_401(
    door: SwitchyardProcess, fakes: FakeProviders, caller: str
) -> None:
    options, model, serving = CALLERS[caller]
    fakes.script("codex", Reply.error(401, TOKEN_INVALIDATED))
    fakes.script(serving, Reply.tools(("call_1", "get_weather", '{"city": "Paris"}')))
    client = sdk(door, **options)
    raw = client.messages.with_raw_response.create(
        model=model, max_tokens=256, system="Use the tools.", tools=TOOLS, messages=QUESTION
    )
    answer = raw.parse()
    assert answer.stop_reason == "tool_use"
    call = next(b for b in answer.content if b.type == "tool_use")
    assert (call.id, call.name, call.input) == ("call_1", "get_weather", {"city": "Paris"})
    assert raw.headers["x-switchyard-provider"] == serving
    assert raw.headers["x-switchyard-trail"].startswith("0 codex ")
    assert "auth_terminal 401 next_candidate" in raw.headers["x-switchyard-trail"]
    assert "x-should-retry" not in raw.headers
    trail = (answer.model_extra or {})["switchyard"]
    assert [a["action"] for a in trail["attempts"]] == ["next_candidate", "succeed"]

    final = client.messages.create(
        model=model, max_tokens=256, tools=TOOLS, messages=tool_result_turns(answer)
    )
    assert final.stop_reason == "end_turn"
    assert [b.type for b in final.content] == ["text"]
    assert final.content[0].text == f"answer from {serving}"
    first_model = "codex-main" if caller == "primary" else model
    assert_loop_calls(fakes, serving, first_model)


@pytest.mark.parametrize("caller", list(CALLERS))
def test_stream_runs_a_tool_loop_after_a_responses_401(
    door: SwitchyardProcess, fakes: FakeProviders, caller: str
) -> None:
    options, model, serving = CALLERS[caller]
    fakes.script("codex", Reply.error(401, TOKEN_INVALIDATED))
    fakes.script(serving, Reply.tools(("call_1", "get_weather", '{"city": "Paris"}')))
    client = sdk(door, **options)
    with client.messages.stream(
        model=model, max_tokens=256, tools=TOOLS, messages=QUESTION
    ) as stream:
        kinds = [event.type for event in stream]
        answer = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "input_json" in kinds
    assert answer.stop_reason == "tool_use"
    call = next(b for b in answer.content if b.type == "tool_use")
    assert (call.id, call.name, call.input) == ("call_1", "get_weather", {"city": "Paris"})

    with client.messages.stream(
        model=model, max_tokens=256, tools=TOOLS, messages=tool_result_turns(answer)
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces == ["answer ", "from ", serving]
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 3
    first_model = "codex-main" if caller == "primary" else model
    assert_loop_calls(fakes, serving, first_model)
    assert all(c.stream for c in fakes.calls())


def test_errors_raise_the_sdk_exceptions_without_sdk_retries(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    client = sdk(door)
    # codex refuses, main fails three times (a try and the policy's two retries):
    # 529 with x-should-retry: false, so the SDK (max_retries=2) does not try again.
    fakes.script("codex", Reply.error(401, TOKEN_INVALIDATED))
    fakes.script("main", *[Reply.error(500, '{"error":{"message":"boom"}}')] * 3)
    with pytest.raises(anthropic.OverloadedError) as caught:
        client.messages.create(model="switchyard/primary", max_tokens=64, messages=QUESTION)
    assert caught.value.status_code == 529
    assert caught.value.response.headers["x-should-retry"] == "false"
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["error"]["type"] == "overloaded_error"
    assert body["request_id"] == caught.value.request_id
    assert [a["action"] for a in body["switchyard"]["attempts"]][-1] == "give_up"
    assert fakes.counts() == {"codex": 1, "main": 3, "cheap": 0}

    # Refused before any provider: each raises its typed exception once.
    with pytest.raises(anthropic.NotFoundError) as not_found:
        client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=QUESTION)
    assert not_found.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(
            model="switchyard/primary", max_tokens=64, messages=QUESTION, extra_body={"top_k": 5}
        )
    assert "top_k" in bad.value.message
    assert isinstance(bad.value, anthropic.APIStatusError)
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(
            base_url=door.openai_base_url.removesuffix("/v1"), api_key="sy_wrong"
        ).messages.create(model="switchyard/primary", max_tokens=64, messages=QUESTION)
    assert fakes.counts() == {"codex": 1, "main": 3, "cheap": 0}


def test_a_stream_cut_after_text_raises_with_the_trail(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    fakes.script("codex", Reply.error(401, TOKEN_INVALIDATED))
    fakes.script("main", Reply.stream("Hel", "lo", end=STREAM_DROP))
    client = sdk(door)
    received = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        with client.messages.stream(
            model="switchyard/primary", max_tokens=64, messages=QUESTION
        ) as stream:
            for text in stream.text_stream:
                received.append(text)
    assert received == ["Hel", "lo"]
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["error"]["type"] == "api_error"
    assert "stream interrupted" in body["error"]["message"]
    assert body["request_id"] in body["error"]["message"]
    assert body["switchyard"]["attempts"][-1]["action"] == "stop_stream"
    # No failover after text, and no SDK retry.
    assert fakes.counts() == {"codex": 1, "main": 1, "cheap": 0}


def test_count_tokens_is_an_estimate(door: SwitchyardProcess, fakes: FakeProviders) -> None:
    client = sdk(door)
    raw = client.messages.with_raw_response.count_tokens(
        model="switchyard/primary", messages=QUESTION, tools=TOOLS
    )
    assert raw.headers["x-switchyard-token-count"] == "estimate"
    count = raw.parse()
    assert count.input_tokens > 0
    assert (count.model_extra or {})["switchyard"]["estimate"] is True
    assert sum(fakes.counts().values()) == 0
