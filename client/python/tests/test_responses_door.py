"""The OpenAI Responses front door (`POST /v1/responses`), driven by the official
`openai` SDK and by `langchain-openai` pointed at the real server: whole and streamed
responses for the primary caller and an auxiliary task, a function-call loop and a
structured-output `responses.parse` served by an `anthropic` candidate after a 429 on
the first, and `chat.completions.parse` served by an `openai_responses` candidate
after a 529. The fake providers record every request, so each test asserts what the
provider that served received, in its own API's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from harness import (
    CLIENT_TOKEN,
    STREAM_DROP,
    FakeProviders,
    Reply,
    SwitchyardProcess,
    token_sha256,
)
from pydantic import BaseModel

PROVIDERS = ["main", "codex", "claude", "resp"]

RATE_LIMITED = json.dumps(
    {"error": {"message": "Rate limit reached.", "type": "requests", "code": "rate_limit_exceeded"}}
)
OVERLOADED = json.dumps(
    {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
)

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


class Person(BaseModel):
    name: str
    age: int


def config(fakes: FakeProviders, db: Path) -> str:
    """The primary `main` (OpenAI chat) falls to `claude` (Anthropic); the
    `compression` task's `codex` (OpenAI chat) to `claude`; the `structured` task's
    `codex` to `resp` (Responses)."""
    return f"""\
listen: 127.0.0.1:0
openai_listen: 127.0.0.1:0
database: {{ path: "{db}" }}
auth:
  client_token_sha256: [ "{token_sha256(CLIENT_TOKEN)}" ]
providers:
  main:   {{ kind: openai, base_url: "{fakes.base_url("main")}", timeout: 5s }}
  codex:  {{ kind: openai, base_url: "{fakes.base_url("codex")}", timeout: 5s }}
  claude: {{ kind: anthropic, base_url: "{fakes.anthropic_base_url("claude")}", timeout: 5s }}
  resp:   {{ kind: openai_responses, base_url: "{fakes.base_url("resp")}", timeout: 5s }}
model:
  provider: main
  model: main-model
  timeout: 20s
  fallback_providers: [ {{ provider: claude, model: claude-model }} ]
auxiliary:
  compression:
    provider: codex
    model: codex-mini
    fallback_chain: [ {{ provider: claude, model: claude-model }} ]
  structured:
    provider: codex
    model: codex-mini
    fallback_chain: [ {{ provider: resp, model: resp-model }} ]
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


def sdk(door: SwitchyardProcess, **kwargs: object) -> openai.OpenAI:
    """The one-line change: the base URL (and the agent token as key). The SDK's own
    retries stay on: the tests prove Switchyard turns them off."""
    return openai.OpenAI(base_url=door.openai_base_url, api_key=CLIENT_TOKEN, **kwargs)  # type: ignore[arg-type]


def aux(door: SwitchyardProcess, task: str) -> openai.OpenAI:
    return sdk(door, default_headers={"X-Switchyard-Task": task})


def test_create_runs_a_function_call_loop_served_by_anthropic_after_a_429(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    fakes.script("main", Reply.error(429, RATE_LIMITED))
    fakes.script("claude", Reply.tools(("toolu_1", "get_weather", '{"city": "Paris"}')))
    client = sdk(door)
    first = client.responses.with_raw_response.create(
        model="switchyard/primary",
        instructions="Answer briefly.",
        input="Weather in Paris?",
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert first.headers["x-switchyard-provider"] == "claude"
    response = first.parse()
    assert response.status == "completed"
    [call] = response.output
    assert call.type == "function_call"
    assert (call.call_id, call.name, call.arguments) == (
        "toolu_1",
        "get_weather",
        '{"city": "Paris"}',
    )

    # The tool result goes back with the SDK's own output items.
    fakes.script("main", Reply.error(429, RATE_LIMITED))
    fakes.script("claude", Reply.ok("18C in Paris."))
    second = client.responses.create(
        model="switchyard/primary",
        instructions="Answer briefly.",
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            *response.output,  # type: ignore[list-item]
            {"type": "function_call_output", "call_id": "toolu_1", "output": "18C"},
        ],
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert second.output_text == "18C in Paris."
    # Anthropic received a valid Messages request: system, tool_use / tool_result by id.
    sent = fakes.calls("claude")[-1]
    assert sent.path == "/claude/v1/messages"
    assert sent.authorization == "secret-of-claude-k1"
    assert sent.body["system"] == "Answer briefly."
    assert sent.body["tools"][0]["name"] == "get_weather"
    assert sent.body["tools"][0]["input_schema"]["required"] == ["city"]
    assert sent.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "18C"}],
                }
            ],
        },
    ]


def test_stream_of_an_aux_task_is_assembled_by_the_sdk_helper(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    fakes.script("codex", Reply.error(429, RATE_LIMITED))
    fakes.script("claude", Reply.stream("Hello ", "from ", "claude"))
    deltas: list[str] = []
    with aux(door, "compression").responses.stream(
        model="codex-mini", input="compress this"
    ) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert deltas == ["Hello ", "from ", "claude"]
    assert final.output_text == "Hello from claude"
    assert final.status == "completed"
    # The task header's model overrides the first candidate only.
    assert fakes.calls("codex")[0].model == "codex-mini"
    assert fakes.calls("claude")[0].model == "claude-model"
    assert fakes.calls("claude")[0].stream


def test_stream_of_function_calls_for_the_primary_caller(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    fakes.script("main", Reply.error(429, RATE_LIMITED))
    fakes.script(
        "claude",
        Reply.tools(
            ("toolu_a", "get_weather", '{"city":"Paris"}'),
            ("toolu_b", "get_weather", '{"city":"Lyon"}'),
        ),
    )
    with sdk(door).responses.stream(
        model="switchyard/primary",
        input="Paris and Lyon?",
        tools=[WEATHER],  # type: ignore[list-item]
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds.count("response.function_call_arguments.delta") >= 2
    calls = [(o.call_id, o.arguments) for o in final.output if o.type == "function_call"]
    assert calls == [("toolu_a", '{"city":"Paris"}'), ("toolu_b", '{"city":"Lyon"}')]
    assert fakes.calls("claude")[0].body["tools"][0]["name"] == "get_weather"


def test_parse_returns_the_pydantic_model_from_anthropic_after_a_429(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    fakes.script("main", Reply.error(429, RATE_LIMITED))
    fakes.script("claude", Reply.ok('{"name": "Ada", "age": 36}'))
    parsed = sdk(door).responses.parse(
        model="switchyard/primary", input="Who wrote the first program?", text_format=Person
    )
    assert parsed.output_parsed == Person(name="Ada", age=36)
    # The first candidate got the schema as its response_format; Anthropic got it too.
    first = fakes.calls("main")[0].body
    assert first["response_format"]["json_schema"]["name"] == "Person"
    assert first["response_format"]["json_schema"]["strict"] is True
    sent = json.dumps(fakes.calls("claude")[0].body)
    assert '"age"' in sent and '"name"' in sent


def test_chat_completions_parse_is_served_by_openai_responses_after_a_529(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    """Issue 10: the chat completions door, a Pydantic json_schema, an
    `openai_responses` candidate after the first is overloaded."""
    fakes.script("codex", *[Reply.error(529, OVERLOADED)] * 3)
    fakes.script("resp", Reply.ok('{"name": "Grace", "age": 85}'))
    completion = sdk(door).chat.completions.parse(
        model="switchyard/aux/structured",
        messages=[{"role": "user", "content": "Who found the first bug?"}],
        response_format=Person,
    )
    assert completion.choices[0].message.parsed == Person(name="Grace", age=85)
    sent = fakes.calls("resp")[0]
    assert sent.path == "/resp/v1/responses"
    assert sent.body["model"] == "resp-model"
    fmt = sent.body["text"]["format"]
    assert (fmt["type"], fmt["name"], fmt["strict"]) == ("json_schema", "Person", True)
    assert fmt["schema"]["required"] == ["name", "age"]
    assert sent.body["input"][0]["role"] == "user"


def test_an_openai_responses_candidate_streams_text_and_function_calls(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    """The harness's Responses fake, streamed: text, then function calls, reach the
    caller through the chat completions door after the first candidate's 529."""
    fakes.script("codex", *[Reply.error(529, OVERLOADED)] * 3)
    fakes.script("resp", Reply.stream("Hi ", "there"))
    structured = sdk(door)
    stream = structured.chat.completions.create(
        model="switchyard/aux/structured",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hi there"
    assert fakes.calls("resp")[-1].body["stream"] is True

    fakes.script("codex", *[Reply.error(529, OVERLOADED)] * 3)
    fakes.script("resp", Reply.tools(("call_9", "get_weather", '{"city":"Oslo"}')))
    with structured.responses.stream(
        model="switchyard/aux/structured",
        input="Weather in Oslo?",
        tools=[WEATHER],  # type: ignore[list-item]
    ) as events:
        final = events.get_final_response()
    [call] = final.output
    assert (call.type, call.call_id, call.arguments) == (
        "function_call",
        "call_9",
        '{"city":"Oslo"}',
    )
    assert fakes.calls("resp")[-1].body["tools"][0]["name"] == "get_weather"


def test_a_stream_broken_after_text_raises_with_the_trail(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    fakes.script("main", Reply.stream("Hel", "lo", end=STREAM_DROP))
    seen: list[str] = []
    with pytest.raises(openai.APIError) as raised:
        with sdk(door).responses.stream(model="switchyard/primary", input="hi") as stream:
            for event in stream:
                seen.append(event.type)
    assert "response.failed" in seen
    assert "stream interrupted" in raised.value.message
    body = raised.value.body
    assert isinstance(body, dict)
    assert body["switchyard"]["attempts"][-1]["action"] == "stop_stream"
    assert fakes.counts()["claude"] == 0  # no failover after text was sent


def test_errors_are_typed_and_not_retried_by_the_sdk(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    fakes.script("main", *[Reply.error(500, "{}")] * 3)
    fakes.script("claude", *[Reply.error(500, "{}")] * 3)
    with pytest.raises(openai.InternalServerError) as raised:
        sdk(door).responses.create(model="switchyard/primary", input="hi")
    assert raised.value.status_code == 503
    assert raised.value.response.headers["x-should-retry"] == "false"
    assert raised.value.body["switchyard"]["attempts"]  # type: ignore[index]
    # One Switchyard request's attempts, not the SDK's retries of it.
    attempts = int(raised.value.response.headers["x-switchyard-attempts"])
    assert attempts == fakes.counts()["main"] + fakes.counts()["claude"]
    with pytest.raises(openai.BadRequestError) as bad:
        sdk(door).responses.create(
            model="switchyard/primary", input="hi", previous_response_id="resp_1"
        )
    assert bad.value.body["param"] == "previous_response_id"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        sdk(door).responses.create(model="gpt-4o", input="hi")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=door.openai_base_url, api_key="wrong").responses.create(
            model="switchyard/primary", input="hi"
        )


def test_langchain_chat_openai_picks_the_responses_api_by_itself(
    door: SwitchyardProcess, fakes: FakeProviders
) -> None:
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def get_weather(city: str) -> str:
        """Weather of a city."""
        return "18C"

    llm = ChatOpenAI(
        model="gpt-5-codex-mini",
        base_url=door.openai_base_url,
        api_key=CLIENT_TOKEN,  # type: ignore[arg-type]
        default_headers={"X-Switchyard-Task": "compression"},
    )
    fakes.script("codex", Reply.error(429, RATE_LIMITED))
    message = llm.invoke("compress this")
    assert message.text == "answer from claude"
    # The id of a Responses answer: langchain chose /v1/responses, not chat completions.
    assert message.response_metadata["id"].startswith("resp_")

    fakes.script("codex", Reply.stream("Hello ", "there"))
    chunks = list(llm.stream("compress this"))
    assert "".join(c.text for c in chunks) == "Hello there"

    fakes.script("codex", Reply.tools(("call_1", "get_weather", '{"city": "Paris"}')))
    called = llm.bind_tools([get_weather]).invoke("Weather in Paris?")
    assert called.tool_calls[0]["name"] == "get_weather"
    assert called.tool_calls[0]["args"] == {"city": "Paris"}
    assert called.tool_calls[0]["id"] == "call_1"
    # Every call reached the task's first candidate with langchain's model name.
    assert {c.model for c in fakes.calls("codex")} == {"gpt-5-codex-mini"}
    assert fakes.calls("codex")[-1].body["tools"][0]["function"]["name"] == "get_weather"
