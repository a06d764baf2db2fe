// Unit tests without the server: the trail format, the mapping of statuses to
// typed errors, and the requests the client builds, over Connect's in-memory
// router transport (errors and their details still go through serialization).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ConnectError, createRouterTransport } from "@connectrpc/connect";
import {
  Action,
  actionName,
  AllCandidatesFailedError,
  AttemptSchema,
  BadRequestSchema,
  Code,
  CompletionStream,
  type CompleteStreamRequest,
  ContentPolicyError,
  ContextOverflowError,
  CredentialNotFoundError,
  DeadlineError,
  ErrorClass,
  ErrorInfoSchema,
  ErrorReason,
  ErrorReasonSchema,
  errorReasonOf,
  type ExplainFallbackRequest,
  FailureDetailSchema,
  formatTrail,
  InternalError,
  InvalidArgumentError,
  NotRefreshableError,
  PermissionDeniedError,
  RefreshFailedError,
  RequestNotFoundError,
  Role,
  SwitchyardClient,
  SwitchyardError,
  type StreamResponse,
  StreamFinishedSchema,
  StreamInterruptedError,
  StreamStartedSchema,
  SwitchyardService,
  TransportFailure,
  UnauthenticatedError,
  UnknownTaskError,
} from "@switchyard/client";

const trail = [
  create(AttemptSchema, {
    candidateIndex: 0,
    provider: "codex",
    model: "codex-mini",
    credentialId: "codex-key",
    errorClass: ErrorClass.AUTH_TERMINAL,
    httpStatus: 401,
    action: Action.NEXT_CANDIDATE,
    reason: "401 token_invalidated; credential marked dead",
    durationMs: 12n,
  }),
  create(AttemptSchema, {
    candidateIndex: 1,
    provider: "cheap",
    model: "cheap-model",
    errorClass: ErrorClass.NONE,
    action: Action.SKIP_CANDIDATE,
    reason: "no live credential (1 cooling)",
  }),
  create(AttemptSchema, { errorClass: ErrorClass.NONE, action: Action.GIVE_UP, reason: "no candidate left" }),
];

test("formatTrail renders one line per step", () => {
  assert.equal(
    formatTrail(trail),
    "  #0 codex/codex-mini [codex-key] auth_terminal 401 -> next_candidate: 401 token_invalidated; credential marked dead\n" +
      "  #1 cheap/cheap-model -> skip_candidate: no live credential (1 cooling)\n" +
      "  #2 - -> give_up: no candidate left\n",
  );
  assert.equal(formatTrail([]), "");
});

/** A client whose server throws `error` from every method, and records requests and headers. */
function clientThrowing(error: () => ConnectError | Promise<never>) {
  const seen: { request: unknown; authorization: string | null }[] = [];
  const transport = createRouterTransport(({ service }) => {
    service(SwitchyardService, {
      async complete(request, ctx) {
        seen.push({ request, authorization: ctx.requestHeader.get("authorization") });
        const e = error();
        throw e instanceof ConnectError ? e : await e;
      },
      async auxComplete() {
        throw error();
      },
      async explainFallback(request: ExplainFallbackRequest) {
        seen.push({ request, authorization: null });
        throw error();
      },
    });
  });
  return { client: new SwitchyardClient({ baseUrl: "http://unused.invalid", transport }), seen };
}

function failure(code: Code, reason: string, domain = "switchyard.dev"): ConnectError {
  return new ConnectError(`failed: ${reason}`, code, undefined, [
    { desc: ErrorInfoSchema, value: { reason, domain, metadata: { request_id: "req-1", task: "astrology" } } },
    { desc: FailureDetailSchema, value: { requestId: "req-1", attempts: trail } },
  ]);
}

async function thrown(p: Promise<unknown>): Promise<SwitchyardError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof SwitchyardError, String(e));
    return e;
  }
  assert.fail("resolved");
}

describe("typed errors", () => {
  const cases: [Code, ErrorReason, Function][] = [
    [Code.Unavailable, ErrorReason.ALL_CANDIDATES_FAILED, AllCandidatesFailedError],
    [Code.OutOfRange, ErrorReason.CONTEXT_OVERFLOW, ContextOverflowError],
    [Code.FailedPrecondition, ErrorReason.CONTENT_POLICY, ContentPolicyError],
    [Code.DeadlineExceeded, ErrorReason.DEADLINE_EXHAUSTED, DeadlineError],
    [Code.InvalidArgument, ErrorReason.UNKNOWN_TASK, UnknownTaskError],
    [Code.InvalidArgument, ErrorReason.INVALID_ARGUMENT, InvalidArgumentError],
    [Code.NotFound, ErrorReason.REQUEST_NOT_FOUND, RequestNotFoundError],
    [Code.Internal, ErrorReason.INTERNAL, InternalError],
    [Code.Unauthenticated, ErrorReason.UNAUTHENTICATED, UnauthenticatedError],
    [Code.PermissionDenied, ErrorReason.PERMISSION_DENIED, PermissionDeniedError],
    [Code.NotFound, ErrorReason.CREDENTIAL_NOT_FOUND, CredentialNotFoundError],
    [Code.FailedPrecondition, ErrorReason.NOT_REFRESHABLE, NotRefreshableError],
    [Code.Unavailable, ErrorReason.REFRESH_FAILED, RefreshFailedError],
    [Code.Aborted, ErrorReason.STREAM_INTERRUPTED, StreamInterruptedError],
  ];
  for (const [code, errorReason, ctor] of cases) {
    // The wire name: the generated value's name without its ERROR_REASON_ prefix.
    const reason = ErrorReasonSchema.value[errorReason]!.name.replace(/^ERROR_REASON_/, "");
    test(`${reason} -> ${ctor.name}`, async () => {
      const { client } = clientThrowing(() => failure(code, reason));
      const err = await thrown(client.complete("hi"));
      assert.equal(err.constructor, ctor);
      assert.equal(err.name, ctor.name);
      assert.equal(err.code, code);
      assert.equal(err.reason, reason);
      assert.equal(err.errorReason, errorReason);
      assert.equal(err.requestId, "req-1");
      assert.deepEqual(err.attempts, trail);
      assert.equal(err.formatTrail(), formatTrail(trail));
      assert.ok(err.cause instanceof ConnectError);
      assert.match(err.message, new RegExp(`failed: ${reason}`));
    });
  }

  test("every generated ErrorReason is found by its wire name (no list kept by hand)", () => {
    for (const value of ErrorReasonSchema.values) {
      const wire = value.name.replace(/^ERROR_REASON_/, "");
      assert.equal(errorReasonOf(wire), value.number, wire);
    }
    assert.equal(errorReasonOf(undefined), ErrorReason.UNSPECIFIED);
    assert.equal(errorReasonOf("ERROR_REASON_INTERNAL"), ErrorReason.UNSPECIFIED, "the wire name has no prefix");
  });

  test("a reason newer than this build: the base class, its name kept, errorReason UNSPECIFIED", async () => {
    const { client } = clientThrowing(() => failure(Code.FailedPrecondition, "SOMETHING_NEW"));
    const err = await thrown(client.complete("hi"));
    assert.equal(err.constructor, SwitchyardError);
    assert.equal(err.reason, "SOMETHING_NEW");
    assert.equal(err.errorReason, ErrorReason.UNSPECIFIED);
  });

  test("UnknownTaskError is an InvalidArgumentError and names the task", async () => {
    const { client } = clientThrowing(() => failure(Code.InvalidArgument, "UNKNOWN_TASK"));
    const err = await thrown(client.complete("hi"));
    assert.ok(err instanceof UnknownTaskError && err instanceof InvalidArgumentError);
    assert.equal(err.task, "astrology");
  });

  test("BadRequest field violations are decoded", async () => {
    const { client } = clientThrowing(
      () =>
        new ConnectError("invalid request", Code.InvalidArgument, undefined, [
          { desc: ErrorInfoSchema, value: { reason: "INVALID_ARGUMENT", domain: "switchyard.dev" } },
          {
            desc: BadRequestSchema,
            value: {
              fieldViolations: [
                { field: "messages.role", description: "must be set" },
                { field: "temperature", description: "must be in [0, 2]" },
              ],
            },
          },
        ]),
    );
    const err = await thrown(client.complete("hi"));
    assert.ok(err instanceof InvalidArgumentError);
    assert.equal(err.requestId, undefined);
    assert.deepEqual(err.attempts, []);
    assert.deepEqual(err.fieldViolations, [
      { field: "messages.role", description: "must be set" },
      { field: "temperature", description: "must be in [0, 2]" },
    ]);
  });

  test("without a Switchyard ErrorInfo the status code decides", async () => {
    const other = () => failure(Code.Unavailable, "ALL_CANDIDATES_FAILED", "example.com");
    const err = await thrown(clientThrowing(other).client.complete("hi"));
    assert.equal(err.constructor, SwitchyardError, "a foreign domain's reason is not trusted");
    const unauthenticated = await thrown(
      clientThrowing(() => new ConnectError("no token", Code.Unauthenticated)).client.complete("hi"),
    );
    assert.ok(unauthenticated instanceof UnauthenticatedError);
    assert.equal(unauthenticated.reason, undefined);
    const denied = await thrown(
      clientThrowing(() => new ConnectError("agent token", Code.PermissionDenied)).client.complete("hi"),
    );
    assert.equal(denied.constructor, PermissionDeniedError);
    assert.ok(!(denied instanceof UnauthenticatedError));
  });

  test("a client-side deadline is a DeadlineError without a trail", async () => {
    const slow = () => new Promise<never>(() => {});
    const { client } = clientThrowing(slow);
    const err = await thrown(client.complete("hi", { timeoutMs: 50 }));
    assert.ok(err instanceof DeadlineError, err.name);
    assert.equal(err.code, Code.DeadlineExceeded);
    assert.equal(err.reason, undefined);
    assert.deepEqual(err.attempts, []);
  });
});

describe("requests", () => {
  test("messages, options and the bearer token", async () => {
    const { client, seen } = clientThrowing(() => new ConnectError("stop", Code.Internal));
    await thrown(
      client.complete(
        [
          { role: "system", content: "s" },
          { role: Role.ASSISTANT, content: "a" },
          { role: "user", content: "u" },
        ],
        { model: "m", maxTokens: 5, temperature: 0.5, token: "tok" },
      ),
    );
    await thrown(client.complete("just text"));
    const [first, second] = seen;
    assert.equal(first!.authorization, "Bearer tok");
    assert.equal(second!.authorization, null);
    const r = first!.request as { messages: { role: Role; content: string }[]; model?: string; maxTokens?: number; temperature?: number };
    assert.deepEqual(
      r.messages.map((m) => [m.role, m.content]),
      [
        [Role.SYSTEM, "s"],
        [Role.ASSISTANT, "a"],
        [Role.USER, "u"],
      ],
    );
    assert.equal(r.model, "m");
    assert.equal(r.maxTokens, 5);
    assert.equal(r.temperature, 0.5);
    const plain = second!.request as typeof r;
    assert.deepEqual(plain.messages.map((m) => [m.role, m.content]), [[Role.USER, "just text"]]);
    assert.equal(plain.model, undefined);
  });

  test("explainFallback builds the simulation", async () => {
    const { client, seen } = clientThrowing(() => new ConnectError("stop", Code.Internal));
    await thrown(
      client.explainFallback({
        simulation: {
          caller: { task: "compression" },
          outcomes: [
            { http: { status: 429, body: "{}", headers: { "retry-after": "1" } }, durationMs: 40 },
            { transport: TransportFailure.TIMEOUT },
          ],
          budgetMs: 1000,
          assumeAllCredentialsLive: true,
        },
      }),
    );
    await thrown(client.explainFallback({ requestId: "req-9" }));
    const sim = seen[0]!.request as ExplainFallbackRequest;
    assert.equal(sim.query.case, "simulation");
    const s = sim.query.value!;
    assert.ok(typeof s === "object");
    assert.deepEqual(s.caller?.kind, { case: "task", value: "compression" });
    assert.equal(s.budgetMs, 1000n);
    assert.equal(s.assumeAllCredentialsLive, true);
    assert.equal(s.model, undefined);
    assert.equal(s.outcomes.length, 2);
    assert.equal(s.outcomes[0]!.durationMs, 40n);
    assert.equal(s.outcomes[0]!.outcome.case, "http");
    assert.deepEqual(
      s.outcomes[0]!.outcome.case === "http" && {
        status: s.outcomes[0]!.outcome.value.status,
        headers: s.outcomes[0]!.outcome.value.headers,
      },
      { status: 429, headers: { "retry-after": "1" } },
    );
    assert.deepEqual(s.outcomes[1]!.outcome, { case: "transport", value: TransportFailure.TIMEOUT });
    const byId = seen[1]!.request as ExplainFallbackRequest;
    assert.deepEqual(byId.query, { case: "requestId", value: "req-9" });
  });
});

describe("streams", () => {
  const started = {
    requestId: "req-7",
    servedBy: { provider: "cheap", model: "cheap-model", credentialId: "cheap-key" },
    attempts: [trail[0]!, create(AttemptSchema, { candidateIndex: 1, provider: "cheap", model: "cheap-model", credentialId: "cheap-key", action: Action.SUCCEED, httpStatus: 200 })],
  };
  const stop = create(AttemptSchema, {
    candidateIndex: 1,
    provider: "cheap",
    model: "cheap-model",
    credentialId: "cheap-key",
    errorClass: ErrorClass.TRANSPORT,
    httpStatus: 200,
    action: Action.STOP_STREAM,
    reason: "stream connection reset",
  });
  type Event = StreamResponse["event"];
  const ev = {
    started: (): Event => ({ case: "started", value: create(StreamStartedSchema, started) }),
    delta: (text: string): Event => ({ case: "delta", value: text }),
    finished: (): Event => ({
      case: "finished",
      value: create(StreamFinishedSchema, {
        usage: { inputTokens: 12, outputTokens: 3 },
        finishReason: "stop",
        attempts: started.attempts,
      }),
    }),
  };

  /**
   * A client whose server answers both streaming RPCs with `events` (then throws
   * `error` when given), pausing `pauseMs` before each event; records the requests
   * with their token, and where a handler was stopped by a cancellation.
   */
  function streaming(events: Event[], error?: ConnectError, pauseMs = 0) {
    const seen: { method: string; request: unknown; authorization: string | null }[] = [];
    /** How many events a handler had sent when it was stopped before its last one. */
    const stopped: number[] = [];
    async function* answer(method: string, request: unknown, ctx: { requestHeader: Headers; signal: AbortSignal }) {
      seen.push({ method, request, authorization: ctx.requestHeader.get("authorization") });
      let sent = 0;
      // The signal aborts when the client cancels, and also once the call is over.
      ctx.signal.addEventListener("abort", () => sent < events.length && stopped.push(sent), { once: true });
      for (const event of events) {
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
        ctx.signal.throwIfAborted();
        yield { event };
        sent++;
      }
      if (error !== undefined) throw error;
    }
    const transport = createRouterTransport(({ service }) => {
      service(SwitchyardService, {
        completeStream: (request, ctx) => answer("completeStream", request, ctx),
        auxCompleteStream: (request, ctx) => answer("auxCompleteStream", request, ctx),
      });
    });
    return { client: new SwitchyardClient({ baseUrl: "http://unused.invalid", transport }), seen, stopped };
  }

  test("the pieces in order; started and finished; the request and the token", async () => {
    const { client, seen, stopped } = streaming([ev.started(), ev.delta("Hel"), ev.delta("lo"), ev.finished()]);
    const stream = await client.auxCompleteStream("compression", "hi", { model: "m", maxTokens: 5, token: "tok" });
    assert.ok(stream instanceof CompletionStream);
    assert.equal(stream.requestId, "req-7");
    assert.equal(stream.servedBy?.provider, "cheap");
    assert.deepEqual(stream.attempts, started.attempts);
    const before = stream.finished;
    assert.equal(before, undefined, "not before the end");
    const pieces: string[] = [];
    for await (const piece of stream) pieces.push(piece);
    assert.deepEqual(pieces, ["Hel", "lo"]);
    assert.equal(stream.content, "Hello");
    assert.equal(stream.finished?.finishReason, "stop");
    assert.equal(stream.finished?.usage?.outputTokens, 3);
    assert.deepEqual(stream.finished?.attempts, started.attempts);
    assert.deepEqual(stopped, [], "a stream read to its end is not cancelled");

    const [call] = seen;
    assert.equal(call!.method, "auxCompleteStream");
    assert.equal(call!.authorization, "Bearer tok");
    const r = call!.request as { task: string; messages: { role: Role; content: string }[]; model?: string; maxTokens?: number };
    assert.equal(r.task, "compression");
    assert.deepEqual(r.messages.map((m) => [m.role, m.content]), [[Role.USER, "hi"]]);
    assert.equal(r.model, "m");
    assert.equal(r.maxTokens, 5);

    const primary = streaming([ev.started(), ev.delta("x"), ev.finished()]);
    assert.equal(await (await primary.client.completeStream([{ role: "system", content: "s" }])).text(), "x");
    assert.equal(primary.seen[0]!.method, "completeStream");
    assert.deepEqual((primary.seen[0]!.request as CompleteStreamRequest).messages.map((m) => m.role), [Role.SYSTEM]);
  });

  test("STREAM_INTERRUPTED after text: StreamInterruptedError with the trail, provider, model, candidate", async () => {
    const interrupted = new ConnectError("stream interrupted", Code.Aborted, undefined, [
      {
        desc: ErrorInfoSchema,
        value: {
          reason: "STREAM_INTERRUPTED",
          domain: "switchyard.dev",
          metadata: { request_id: "req-7", provider: "cheap", model: "cheap-model", candidate_index: "1", error_class: "transport" },
        },
      },
      { desc: FailureDetailSchema, value: { requestId: "req-7", attempts: [...started.attempts, stop] } },
    ]);
    const { client } = streaming([ev.started(), ev.delta("Hel"), ev.delta("lo")], interrupted);
    const stream = await client.completeStream("hi");
    const pieces: string[] = [];
    const err = await thrown(
      (async () => {
        for await (const piece of stream) pieces.push(piece);
      })(),
    );
    assert.ok(err instanceof StreamInterruptedError, err.name);
    assert.equal(err.code, Code.Aborted);
    assert.equal(err.reason, "STREAM_INTERRUPTED");
    assert.equal(err.requestId, "req-7");
    assert.equal(err.provider, "cheap");
    assert.equal(err.model, "cheap-model");
    assert.equal(err.candidateIndex, 1);
    assert.equal(err.errorClass, "transport");
    assert.equal(err.attempts.at(-1)!.action, Action.STOP_STREAM);
    assert.match(err.formatTrail(), /^ {2}#2 cheap\/cheap-model \[cheap-key\] transport 200 -> stop_stream: stream connection reset$/m);
    assert.deepEqual(pieces, ["Hel", "lo"]);
    assert.equal(stream.content, "Hello", "the partial text stays readable");
    assert.equal(stream.finished, undefined);
  });

  test("StreamInterruptedError without metadata falls back to the trail's STOP_STREAM step", async () => {
    const bare = new ConnectError("stream interrupted", Code.Aborted, undefined, [
      { desc: ErrorInfoSchema, value: { reason: "STREAM_INTERRUPTED", domain: "switchyard.dev" } },
      { desc: FailureDetailSchema, value: { requestId: "req-7", attempts: [...started.attempts, stop] } },
    ]);
    const { client } = streaming([ev.started(), ev.delta("a")], bare);
    const err = await thrown((await client.completeStream("hi")).text());
    assert.ok(err instanceof StreamInterruptedError);
    assert.deepEqual([err.provider, err.model, err.candidateIndex, err.errorClass], ["cheap", "cheap-model", 1, "transport"]);
  });

  test("a failure before the first token rejects the call with the typed error", async () => {
    const { client } = streaming([], failure(Code.Unavailable, "ALL_CANDIDATES_FAILED"));
    const err = await thrown(client.auxCompleteStream("compression", "hi"));
    assert.ok(err instanceof AllCandidatesFailedError, err.name);
    assert.deepEqual(err.attempts, trail);
    assert.equal(err.requestId, "req-1");
  });

  test("a broken event order is an InternalError (protocol error)", async () => {
    const cases: [string, Event[], RegExp, boolean][] = [
      ["no events", [], /without a started event/, true],
      ["text first", [ev.delta("a")], /first event is delta/, true],
      ["no finished", [ev.started(), ev.delta("a")], /without a finished event/, false],
      ["two started", [ev.started(), ev.started()], /second started/, false],
      ["text after finished", [ev.started(), ev.finished(), ev.delta("a")], /text after the finished/, false],
    ];
    for (const [what, events, message, atOpen] of cases) {
      const { client } = streaming(events);
      const err = await thrown(atOpen ? client.completeStream("hi") : (async () => (await client.completeStream("hi")).text())());
      assert.ok(err instanceof InternalError, `${what}: ${err.name}`);
      assert.match(err.message, message, what);
    }
  });

  test("leaving the loop early cancels the call; cancel() fails a pending read with Canceled", async () => {
    const many = [ev.started(), ...Array.from({ length: 50 }, (_, i) => ev.delta(`p${i}`)), ev.finished()];
    const early = streaming(many, undefined, 5);
    const stream = await early.client.completeStream("hi");
    const pieces: string[] = [];
    for await (const piece of stream) {
      pieces.push(piece);
      if (pieces.length === 2) break;
    }
    assert.deepEqual(pieces, ["p0", "p1"]);
    assert.equal(stream.finished, undefined);
    for (let i = 0; i < 100 && early.stopped.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(early.stopped.length, 1, "the server saw the call cancelled");
    assert.ok(early.stopped[0]! < 10, `the server went on sending: ${early.stopped[0]} events`);
    await assert.rejects(stream.text(), TypeError, "a stream is iterated once");

    const later = streaming(many, undefined, 5);
    const other = await later.client.completeStream("hi");
    const it = other[Symbol.asyncIterator]();
    assert.deepEqual(await it.next(), { value: "p0", done: false });
    const pending = it.next();
    other.cancel();
    const err = await thrown(pending);
    assert.equal(err.code, Code.Canceled);

    const aborting = new AbortController();
    const bySignal = await streaming(many, undefined, 5).client.completeStream("hi", { signal: aborting.signal });
    const got: string[] = [];
    const signalled = await thrown(
      (async () => {
        for await (const piece of bySignal) {
          got.push(piece);
          if (got.length === 3) aborting.abort();
        }
      })(),
    );
    assert.equal(signalled.code, Code.Canceled);
    assert.deepEqual(got, ["p0", "p1", "p2"]);
  });

  test("stop_stream in a trail", () => {
    assert.equal(actionName(Action.STOP_STREAM), "stop_stream");
    assert.equal(formatTrail([stop]), "  #0 cheap/cheap-model [cheap-key] transport 200 -> stop_stream: stream connection reset\n");
  });
});
