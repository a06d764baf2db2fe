"""Test harness: OpenAI-compatible fake providers (a real HTTP server in this process)
and the real `switchyard` binary on a temporary config and SQLite file."""

from __future__ import annotations

import collections
import hashlib
import json
import os
import queue
import re
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

TOKEN_INVALIDATED = json.dumps(
    {
        "error": {
            "message": "Your authentication token has been invalidated.",
            "type": "invalid_request_error",
            "code": "token_invalidated",
        }
    }
)
BAD_REQUEST = json.dumps({"error": {"message": "bad", "type": "invalid_request_error"}})
#: An in-stream error event's payload (`data: {"error": ...}`): the provider is overloaded.
OVERLOADED_EVENT = json.dumps(
    {"error": {"message": "Overloaded", "type": "overloaded_error", "code": "overloaded"}}
)

#: How a streamed reply ends (`Reply.stream(..., end=...)`):
#: the finish reason, the usage chunk and `data: [DONE]`;
STREAM_DONE = "done"
#: the connection closes with neither a finish reason nor `[DONE]` (a truncated stream);
STREAM_DROP = "drop"
#: an error event (`data: {"error": ...}`), then the connection closes.
STREAM_ERROR = "error"

#: The caller token of the test server: its SHA-256 is in `auth.client_token_sha256`,
#: and the `client` fixture sends it by default.
CLIENT_TOKEN = "sy_test-client-token"
#: An operator token (`auth.admin_token_sha256`); agent calls accept it too.
ADMIN_TOKEN = "sy_test-admin-token"


def token_sha256(token: str) -> str:
    """What the config lists for a token: its SHA-256, lowercase hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def switchyard_bin() -> Path:
    """`SWITCHYARD_BIN`, else `${CARGO_TARGET_DIR:-<repo>/target}/debug/switchyard`."""
    explicit = os.environ.get("SWITCHYARD_BIN")
    if explicit:
        return Path(explicit)
    target = os.environ.get("CARGO_TARGET_DIR") or str(REPO / "target")
    return Path(target) / "debug" / "switchyard"


@dataclass
class Reply:
    """One scripted answer of a fake provider.

    A plain reply (`ok`) answers a chat completion with `content`, or, when the
    request asks for `"stream": true`, streams `content` word by word and ends
    normally. A streamed reply (`stream`) is always an event stream: its `pieces`,
    one chunk each (`gap` seconds apart), then its `end`. An `error` reply is sent as
    is, before any stream: an ordinary failed attempt."""

    status: int = 200
    body: str | None = None  # None: a chat completion with `content`
    content: str = ""
    delay: float = 0.0
    pieces: list[str] | None = None  # a scripted stream
    end: str = STREAM_DONE
    error_event: str = OVERLOADED_EVENT  # the payload of an `end=STREAM_ERROR`
    gap: float = 0.0
    #: An answer of tool calls, each (id, function name, arguments JSON); streamed
    #: as OpenAI does (`tool_calls[index]` pieces) when the request asks.
    tool_calls: list[tuple[str, str, str]] | None = None

    @classmethod
    def ok(cls, content: str, *, delay: float = 0.0) -> Reply:
        return cls(content=content, delay=delay)

    @classmethod
    def tools(cls, *calls: tuple[str, str, str]) -> Reply:
        """A 200 answer of tool calls: `finish_reason: tool_calls`."""
        return cls(tool_calls=list(calls))

    @classmethod
    def error(cls, status: int, body: str) -> Reply:
        return cls(status=status, body=body)

    @classmethod
    def stream(
        cls,
        *pieces: str,
        end: str = STREAM_DONE,
        error_event: str = OVERLOADED_EVENT,
        gap: float = 0.0,
        delay: float = 0.0,
    ) -> Reply:
        """An event stream of `pieces`, ending with `end` (`STREAM_DONE`,
        `STREAM_DROP` or `STREAM_ERROR` with `error_event`)."""
        if end not in (STREAM_DONE, STREAM_DROP, STREAM_ERROR):
            raise ValueError(f"unknown stream end {end!r}")
        return cls(pieces=list(pieces), end=end, error_event=error_event, gap=gap, delay=delay)


def split_words(text: str) -> list[str]:
    """The pieces a plain reply streams: each word with the space after it (as the
    server's own fake does): ``"answer from main"`` -> ``["answer ", "from ", "main"]``."""
    return re.findall(r"[^ ]* |[^ ]+", text)


@dataclass
class Call:
    """One request received by a fake provider."""

    provider: str
    path: str
    authorization: str
    body: dict = field(default_factory=dict)
    #: Streams: the text pieces written, and whether the server closed the
    #: connection before the stream's end.
    sent: int = 0
    disconnected: bool = False

    @property
    def model(self) -> str:
        return self.body.get("model", "")

    @property
    def stream(self) -> bool:
        """The request asked for an event stream."""
        return self.body.get("stream") is True


class FakeProviders:
    """OpenAI-compatible fakes on one loopback HTTP server; the first path segment
    names the provider (`/codex/v1/chat/completions`). Each answers its scripted
    replies in order, then `answer from <name>` (streamed word by word when the request
    asks for a stream); every call is recorded."""

    def __init__(self, names: list[str]) -> None:
        self.names = list(names)
        self._lock = threading.Lock()
        self._scripts: dict[str, collections.deque[Reply]] = {n: collections.deque() for n in names}
        self._calls: list[Call] = []
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def base_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}/v1"

    def script(self, name: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts[name].extend(replies)

    def calls(self, name: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if name is None or c.provider == name]

    def counts(self) -> dict[str, int]:
        with self._lock:
            counts = dict.fromkeys(self.names, 0)
            for c in self._calls:
                counts[c.provider] += 1
            return counts

    def close(self) -> None:
        self._stop.set()  # wakes delayed replies
        self._server.shutdown()
        self._server.server_close()

    def _next(self, name: str) -> Reply:
        with self._lock:
            script = self._scripts[name]
            return script.popleft() if script else Reply.ok(f"answer from {name}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fakes = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                parts = self.path.strip("/").split("/")
                name = parts[0] if parts else ""
                routes = (["v1", "chat", "completions"], ["v1", "responses"])
                if name not in fakes._scripts or parts[1:] not in routes:
                    self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"unparsed": raw.decode("utf-8", "replace")}
                call = Call(name, self.path, self.headers.get("authorization", ""), body)
                with fakes._lock:
                    fakes._calls.append(call)
                reply = fakes._next(name)
                if reply.delay and fakes._stop.wait(reply.delay):
                    return  # shutting down
                if reply.tool_calls is not None:
                    self._tool_calls(call, reply.tool_calls)
                    return
                if reply.pieces is not None:
                    self._stream(call, reply.pieces, reply)
                    return
                if call.stream and reply.body is None and reply.status == 200:
                    self._stream(call, split_words(reply.content), reply)
                    return
                if reply.body is not None:
                    text = reply.body
                else:
                    text = json.dumps(
                        {
                            "id": "x",
                            "object": "chat.completion",
                            "model": body.get("model", ""),
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": reply.content},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {"prompt_tokens": 3, "completion_tokens": 2},
                        }
                    )
                self._send(reply.status, text)

            def _tool_calls(self, call: Call, calls: list[tuple[str, str, str]]) -> None:
                """Tool calls, whole or as an event stream of indexed pieces (the
                arguments of each call cut in two)."""
                model = call.model
                if not call.stream:
                    message = {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                            for i, n, a in calls
                        ],
                    }
                    choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
                    body = {
                        "id": "x",
                        "object": "chat.completion",
                        "model": model,
                        "choices": [choice],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
                    }
                    self._send(200, json.dumps(body))
                    return

                def chunk(delta: dict, finish: str | None = None) -> bytes:
                    event = {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "model": model,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                    }
                    return f"data: {json.dumps(event)}\n\n".encode()

                out = chunk({"role": "assistant", "content": None})
                for index, (i, n, a) in enumerate(calls):
                    head = {"index": index, "id": i, "type": "function"}
                    head["function"] = {"name": n, "arguments": ""}
                    out += chunk({"tool_calls": [head]})
                    for piece in (a[: len(a) // 2], a[len(a) // 2 :]):
                        piece_delta = {"index": index, "function": {"arguments": piece}}
                        out += chunk({"tool_calls": [piece_delta]})
                out += chunk({}, "tool_calls") + b"data: [DONE]\n\n"
                self.close_connection = True
                try:
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("connection", "close")
                    self.end_headers()
                    self._write(out)
                except OSError:
                    pass

            def _stream(self, call: Call, pieces: list[str], reply: Reply) -> None:
                """An OpenAI-style event stream, delimited by the connection's close."""
                model = call.model

                def chunk(delta: dict, finish: str | None = None) -> bytes:
                    event = {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "model": model,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                    }
                    return f"data: {json.dumps(event)}\n\n".encode()

                end = reply.end  # STREAM_DONE for a plain reply
                if end == STREAM_DONE:
                    usage = {
                        "prompt_tokens": 3,
                        "completion_tokens": len(pieces),
                        "total_tokens": 3 + len(pieces),
                    }
                    final = {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "model": model,
                        "choices": [],
                        "usage": usage,
                    }
                    tail = (
                        chunk({}, "stop")
                        + f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode()
                    )
                elif end == STREAM_ERROR:
                    tail = f"data: {reply.error_event}\n\n".encode()
                else:  # STREAM_DROP: no finish reason, no [DONE]
                    tail = b""
                self.close_connection = True
                try:
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("cache-control", "no-cache")
                    self.send_header("connection", "close")
                    self.end_headers()
                    self._write(chunk({"role": "assistant", "content": ""}))
                    for piece in pieces:
                        if reply.gap and fakes._stop.wait(reply.gap):
                            return  # shutting down
                        self._write(chunk({"content": piece}))
                        with fakes._lock:
                            call.sent += 1
                    self._write(tail)
                except OSError:  # the server closed the stream
                    with fakes._lock:
                        call.disconnected = True

            def _write(self, data: bytes) -> None:
                self.wfile.write(data)
                self.wfile.flush()

            def _send(self, status: int, text: str) -> None:
                data = text.encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the server gave up on this attempt
                    pass

        return Handler


def standard_config(fakes: FakeProviders, db: Path) -> str:
    """main is the agent model; compression -> codex, chain [cheap], then main;
    slow -> codex with a 400 ms task timeout. Caller auth is on: every call needs
    `CLIENT_TOKEN` (or `ADMIN_TOKEN`)."""
    return f"""\
listen: 127.0.0.1:0
database: {{ path: "{db}" }}
auth:
  client_token_sha256: [ "{token_sha256(CLIENT_TOKEN)}" ]
  admin_token_sha256: [ "{token_sha256(ADMIN_TOKEN)}" ]
providers:
  main:  {{ kind: openai, base_url: "{fakes.base_url("main")}", timeout: 5s }}
  codex: {{ kind: openai, base_url: "{fakes.base_url("codex")}", timeout: 5s }}
  cheap: {{ kind: openai, base_url: "{fakes.base_url("cheap")}", timeout: 5s }}
model: {{ provider: main, model: main-model, timeout: 20s }}
auxiliary:
  compression:
    provider: codex
    model: codex-mini
    fallback_chain: [ {{ provider: cheap, model: cheap-model }} ]
  slow: {{ provider: codex, model: codex-slow, timeout: 400ms }}
policy: {{ backoff_base: 5ms, backoff_max: 20ms, min_attempt: 50ms }}
"""


class SwitchyardProcess:
    """The real server: `credentials add` for each key, then `serve` on port 0."""

    def __init__(self, binary: Path, workdir: Path, config_yaml: str) -> None:
        self.binary = binary
        self.workdir = workdir
        self.config = workdir / "switchyard.yaml"
        self.config.write_text(config_yaml)
        self.log = workdir / "switchyard.log"
        self.proc: subprocess.Popen[str] | None = None
        self.address = ""
        #: Base URL of the OpenAI-compatible front door, when the config enables it.
        self.openai_base_url = ""

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        # A copy: the test process's own environment is never changed.
        env = dict(os.environ)
        no_proxy = ",".join(filter(None, [env.get("NO_PROXY"), "127.0.0.1", "localhost"]))
        env["NO_PROXY"] = env["no_proxy"] = no_proxy
        env.update(extra or {})
        return env

    def add_credential(self, provider: str, cred_id: str, secret: str) -> None:
        var = "SWITCHYARD_TEST_API_KEY"
        result = subprocess.run(
            [
                str(self.binary),
                "--config",
                str(self.config),
                "credentials",
                "add",
                "--provider",
                provider,
                "--id",
                cred_id,
                "--api-key-env",
                var,
            ],
            env=self._env({var: secret}),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"credentials add {cred_id} failed ({result.returncode}): {result.stderr}"
            )

    def start(self, timeout: float = 30.0) -> str:
        log = open(self.log, "w")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [str(self.binary), "--config", str(self.config), "serve"],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
            env=self._env(),
        )
        log.close()
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:  # drained until the process exits
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        prefix = "switchyard listening on "
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            line = None
        if not line or not line.startswith(prefix):
            self.stop()
            raise RuntimeError(
                f"switchyard did not start (first stdout line {line!r}); log:\n"
                + self.log.read_text()
            )
        self.address = line[len(prefix) :].strip()
        if "openai_listen:" in self.config.read_text():
            second = "switchyard openai api on "
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                line = None
            if not line or not line.startswith(second):
                self.stop()
                raise RuntimeError(
                    f"no OpenAI API line (got {line!r}); log:\n" + self.log.read_text()
                )
            self.openai_base_url = line[len(second) :].strip()
        return self.address

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
