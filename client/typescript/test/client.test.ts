// Integration tests: the compiled client against the real `switchyard` binary and
// OpenAI-compatible fake providers, gRPC over HTTP/2 on 127.0.0.1.

import assert from "node:assert/strict";
import { after, before, describe, test, type TestContext } from "node:test";
import {
  Action,
  AllCandidatesFailedError,
  type Attempt,
  type ChatRole,
  Code,
  type CompletionStream,
  DeadlineError,
  ErrorClass,
  ErrorReason,
  formatTrail,
  InvalidArgumentError,
  Outcome,
  PermissionDeniedError,
  RequestNotFoundError,
  StreamInterruptedError,
  SwitchyardClient,
  SwitchyardError,
  UnauthenticatedError,
  UnknownTaskError,
} from "@switchyard/client";
import type { Interceptor } from "@connectrpc/connect";
import {
  ADMIN_TOKEN,
  BAD_REQUEST,
  CLIENT_TOKEN,
  Harness,
  PROVIDERS,
  switchyardBin,
  TOKEN_INVALIDATED,
  tokenSha256,
} from "./harness.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const OVERLOADED = JSON.stringify({ error: { message: "Overloaded", type: "overloaded_error" } });

/** (provider, credential, action) of each step. */
function shape(attempts: readonly Attempt[]): [string, string, Action][] {
  return attempts.map((a) => [a.provider, a.credentialId, a.action]);
}

/** Everything of a step but the free-text reason and the duration. */
function keys(attempts: readonly Attempt[]): unknown[] {
  return attempts.map((a) => [a.candidateIndex, a.provider, a.model, a.credentialId, a.errorClass, a.httpStatus, a.action]);
}

/** The error a promise rejects with; fails if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<SwitchyardError> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof SwitchyardError, `expected a SwitchyardError, got ${String(e)}`);
    return e;
  }
  assert.fail("the call succeeded");
}

/** Prints a multi-line text in the test output, one diagnostic line each. */
function diagnose(t: TestContext, text: string): void {
  for (const line of text.trimEnd().split("\n")) t.diagnostic(line);
}

/** Reads a stream to its end; returns the pieces, or the error it threw with the pieces before it. */
async function drain(stream: CompletionStream): Promise<{ pieces: string[]; error?: SwitchyardError }> {
  const pieces: string[] = [];
  try {
    for await (const piece of stream) pieces.push(piece);
  } catch (e) {
    assert.ok(e instanceof SwitchyardError, `expected a SwitchyardError, got ${String(e)}`);
    return { pieces, error: e };
  }
  return { pieces };
}

/** Waits up to `ms` for `condition`. */
async function eventually(condition: () => boolean, ms = 2000): Promise<boolean> {
  for (const end = performance.now() + ms; !condition() && performance.now() < end; ) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return condition();
}

/** How many calls each provider received since `before`. */
function delta(h: Harness, before: Record<string, number>): Record<string, number> {
  const now = h.fakes.counts(...PROVIDERS);
  return Object.fromEntries(PROVIDERS.map((p) => [p, now[p]! - before[p]!]));
}

// Fails with the path looked at when the binary is missing (the suites below are
// then cancelled by their \`before\` hooks).
test("the switchyard binary is there ($SWITCHYARD_BIN or the cargo target dir)", () => {
  switchyardBin();
});

describe("answers and fallbacks", () => {
  let h: Harness;
  let client: SwitchyardClient;
  before(async () => {
    h = await Harness.start();
    // The default token: every test of the suite also proves it is sent.
    client = new SwitchyardClient({ baseUrl: h.baseUrl, token: CLIENT_TOKEN });
  });
  after(async () => {
    client?.close();
    await h?.stop();
  });

  test("complete: a successful primary call", async () => {
    const r = await client.complete(
      [
        { role: "system", content: "Be brief." },
        { role: "user", content: "hello" },
      ],
      { maxTokens: 64, temperature: 0.2 },
    );
    assert.equal(r.content, "answer from main");
    assert.match(r.requestId, UUID);
    assert.equal(r.servedBy?.provider, "main");
    assert.equal(r.servedBy?.model, "main-model");
    assert.equal(r.servedBy?.credentialId, "main-key");
    assert.equal(r.usage?.inputTokens, 3);
    assert.equal(r.usage?.outputTokens, 2);
    assert.deepEqual(shape(r.attempts), [["main", "main-key", Action.SUCCEED]]);

    assert.deepEqual(h.fakes.counts(...PROVIDERS), { main: 1, codex: 0, cheap: 0 });
    const call = h.fakes.calls.at(-1)!;
    assert.equal(call.authorization, "Bearer secret-of-main-key");
    assert.equal(call.body.model, "main-model");
    assert.equal(call.body.max_tokens, 64);
    assert.equal(call.body.temperature, 0.2);
    assert.deepEqual(call.body.messages, [
      { role: "system", content: "Be brief." },
      { role: "user", content: "hello" },
    ]);
  });

  test("auxComplete('compression'): 401 token_invalidated on codex falls through to the chain", async (t) => {
    // The simulation predicts the trail without contacting a provider.
    const simulated = await client.explainFallback({
      simulation: {
        caller: { task: "compression" },
        outcomes: [{ http: { status: 401, body: TOKEN_INVALIDATED } }],
        assumeAllCredentialsLive: true,
      },
    });
    assert.equal(simulated.simulated, true);
    assert.deepEqual(
      simulated.candidates.map((c) => [c.provider, c.model, c.origin]),
      [
        ["codex", "codex-mini", "task"],
        ["cheap", "cheap-model", "task_chain[0]"],
        ["main", "main-model", "main"],
      ],
    );

    const before = h.fakes.counts(...PROVIDERS);
    h.fakes.push("codex", { status: 401, body: TOKEN_INVALIDATED });
    const r = await client.auxComplete("compression", "Summarise the conversation so far.");
    const trail = formatTrail(r.attempts);
    diagnose(t, `trail of request ${r.requestId}:\n${trail}`);

    assert.equal(r.content, "answer from cheap");
    assert.equal(r.servedBy?.provider, "cheap");
    assert.equal(r.servedBy?.credentialId, "cheap-key");
    assert.deepEqual(shape(r.attempts), [
      ["codex", "codex-key", Action.NEXT_CANDIDATE],
      ["cheap", "cheap-key", Action.SUCCEED],
    ]);
    assert.equal(r.attempts[0]!.errorClass, ErrorClass.AUTH_TERMINAL);
    assert.equal(r.attempts[0]!.httpStatus, 401);
    assert.deepEqual(delta(h, before), { main: 0, codex: 1, cheap: 1 });
    assert.equal(h.fakes.calls.at(-2)!.authorization, "Bearer secret-of-codex-key");
    assert.equal(h.fakes.calls.at(-1)!.body.model, "cheap-model");
    assert.match(trail, /^ {2}#0 codex\/codex-mini \[codex-key\] auth_terminal 401 -> next_candidate: .+$/m);
    assert.match(trail, /^ {2}#1 cheap\/cheap-model \[cheap-key\] 200 -> succeed: .*$/m);
    assert.doesNotMatch(trail, /secret-of/);
    assert.deepEqual(keys(simulated.steps), keys(r.attempts), "simulation and real call disagree");

    const recorded = await client.explainFallback({ requestId: r.requestId });
    assert.equal(recorded.simulated, false);
    assert.equal(recorded.requestId, r.requestId);
    assert.equal(recorded.outcome, Outcome.SUCCEEDED);
    assert.deepEqual(recorded.steps, r.attempts);

    // codex's key is dead now: the next call skips it without contacting codex.
    const again = await client.auxComplete("compression", "And again.");
    assert.deepEqual(shape(again.attempts), [
      ["codex", "", Action.SKIP_CANDIDATE],
      ["cheap", "cheap-key", Action.SUCCEED],
    ]);
    assert.deepEqual(delta(h, before), { main: 0, codex: 1, cheap: 2 });
  });

  test("explainFallback: a simulation, and the recorded trail by requestId equals the response's attempts", async () => {
    const simulated = await client.explainFallback({
      simulation: {
        caller: "primary",
        outcomes: [{ http: { status: 529, body: OVERLOADED }, durationMs: 40 }],
        assumeAllCredentialsLive: true,
      },
    });
    assert.equal(simulated.simulated, true);
    assert.equal(simulated.requestId, "");
    assert.equal(simulated.caller?.kind.case, "primary");
    assert.equal(simulated.outcome, Outcome.SUCCEEDED);
    assert.deepEqual(shape(simulated.steps), [
      ["main", "main-key", Action.RETRY_SAME],
      ["main", "main-key", Action.SUCCEED],
    ]);
    assert.equal(simulated.steps[0]!.errorClass, ErrorClass.OVERLOADED);

    const before = h.fakes.counts(...PROVIDERS);
    h.fakes.push("main", { status: 529, body: OVERLOADED });
    const r = await client.complete("hello");
    assert.deepEqual(keys(r.attempts), keys(simulated.steps), "simulation and real call disagree");
    assert.deepEqual(delta(h, before), { main: 2, codex: 0, cheap: 0 });

    const recorded = await client.explainFallback({ requestId: r.requestId });
    assert.equal(recorded.simulated, false);
    assert.equal(recorded.caller?.kind.case, "primary");
    assert.deepEqual(recorded.steps, r.attempts);
  });
});

describe("caller authentication (auth.client_token_sha256 lists the test token's hash)", () => {
  let h: Harness;
  const clients: SwitchyardClient[] = [];
  /** A client of the server, closed after the suite. */
  const connect = (options: { token?: string; interceptors?: Interceptor[] } = {}) => {
    const c = new SwitchyardClient({ baseUrl: h.baseUrl, ...options });
    clients.push(c);
    return c;
  };
  /** One call of each SwitchyardService method, with `token` when given. */
  const everyMethod = (c: SwitchyardClient, token?: string) => ({
    complete: () => c.complete("hi", { token }),
    auxComplete: () => c.auxComplete("compression", "hi", { token }),
    simulation: () => c.explainFallback({ simulation: { caller: "primary" } }, { token }),
    requestId: () => c.explainFallback({ requestId: "01900000-0000-7000-8000-000000000000" }, { token }),
    completeStream: async () => (await c.completeStream("hi", { token })).text(),
    auxCompleteStream: async () => (await c.auxCompleteStream("compression", "hi", { token })).text(),
  });
  const assertUnauthenticated = (err: SwitchyardError, what: string) => {
    assert.ok(err instanceof UnauthenticatedError, `${what}: ${err.name}: ${err.message}`);
    assert.ok(!(err instanceof PermissionDeniedError));
    assert.equal(err.name, "UnauthenticatedError");
    assert.equal(err.code, Code.Unauthenticated, what);
    assert.equal(err.reason, "UNAUTHENTICATED", what);
    assert.equal(err.requestId, undefined, what);
    assert.deepEqual(err.attempts, [], what);
  };
  before(async () => {
    h = await Harness.start();
  });
  after(async () => {
    for (const c of clients) c.close();
    await h?.stop();
  });

  test("a call without a token is refused", async () => {
    const before = h.fakes.counts(...PROVIDERS);
    for (const [what, call] of Object.entries(everyMethod(connect()))) {
      assertUnauthenticated(await rejection(call()), `${what} without a token`);
    }
    // An empty per-call token sends none, even over a client default.
    assertUnauthenticated(await rejection(connect({ token: CLIENT_TOKEN }).complete("hi", { token: "" })), "token ''");
    assert.deepEqual(delta(h, before), { main: 0, codex: 0, cheap: 0 }, "no provider was called");
  });

  test("a call with a wrong token is refused", async () => {
    const before = h.fakes.counts(...PROVIDERS);
    const wrong = "sy_not-a-configured-token";
    for (const [what, call] of Object.entries(everyMethod(connect(), wrong))) {
      const err = await rejection(call());
      assertUnauthenticated(err, `${what} with a wrong per-call token`);
      assert.doesNotMatch(err.message, new RegExp(wrong), "the server must not echo the token");
    }
    for (const [what, call] of Object.entries(everyMethod(connect({ token: wrong })))) {
      assertUnauthenticated(await rejection(call()), `${what} with a wrong default token`);
    }
    // The hash the config lists is not a token.
    assertUnauthenticated(await rejection(connect({ token: tokenSha256(CLIENT_TOKEN) }).complete("hi")), "the hash");
    // A wrong per-call token overrides a right default.
    assertUnauthenticated(
      await rejection(connect({ token: CLIENT_TOKEN }).complete("hi", { token: wrong })),
      "a wrong per-call token over the right default",
    );
    assert.deepEqual(delta(h, before), { main: 0, codex: 0, cheap: 0 }, "no provider was called");
  });

  test("the right token, per call or as the client default, is accepted", async () => {
    const before = h.fakes.counts(...PROVIDERS);
    const seen: (string | null)[] = [];
    const capture: Interceptor = (next) => (req) => {
      seen.push(req.header.get("authorization"));
      return next(req);
    };

    // Per call, on a client without a default; an admin token is accepted too.
    const anonymous = connect({ interceptors: [capture] });
    const r = await anonymous.complete("hi", { token: CLIENT_TOKEN });
    assert.equal(r.content, "answer from main");
    const recorded = await anonymous.explainFallback({ requestId: r.requestId }, { token: CLIENT_TOKEN });
    assert.deepEqual(recorded.steps, r.attempts);
    assert.equal((await anonymous.complete("hi", { token: ADMIN_TOKEN })).content, "answer from main");

    // As the client default, on every method.
    const byDefault = connect({ token: CLIENT_TOKEN, interceptors: [capture] });
    for (const [what, call] of Object.entries(everyMethod(byDefault))) {
      if (what === "requestId") {
        assert.ok((await rejection(call())) instanceof RequestNotFoundError, "authenticated, then not found");
      } else {
        await call();
      }
    }

    // A right per-call token overrides a wrong default.
    const wrongDefault = connect({ token: "sy_wrong", interceptors: [capture] });
    assert.equal((await wrongDefault.complete("hi", { token: CLIENT_TOKEN })).content, "answer from main");

    assert.deepEqual(seen, [
      `Bearer ${CLIENT_TOKEN}`,
      `Bearer ${CLIENT_TOKEN}`,
      `Bearer ${ADMIN_TOKEN}`,
      ...Array(6).fill(`Bearer ${CLIENT_TOKEN}`),
      `Bearer ${CLIENT_TOKEN}`,
    ]);
    assert.deepEqual(delta(h, before), { main: 5, codex: 2, cheap: 0 });
    // The caller's token never reaches a provider: the server sends its own key.
    for (const c of h.fakes.calls) {
      assert.equal(c.authorization, `Bearer secret-of-${c.provider}-key`);
    }
  });
});

describe("failures", () => {
  let h: Harness;
  let client: SwitchyardClient;
  before(async () => {
    h = await Harness.start();
    // The default token: every test of the suite also proves it is sent.
    client = new SwitchyardClient({ baseUrl: h.baseUrl, token: CLIENT_TOKEN });
  });
  after(async () => {
    client?.close();
    await h?.stop();
  });

  test("every candidate failing throws AllCandidatesFailedError with the trail", async (t) => {
    const before = h.fakes.counts(...PROVIDERS);
    for (const p of ["codex", "cheap", "main"]) {
      h.fakes.push(p, { status: 400, body: BAD_REQUEST });
    }
    const err = await rejection(client.auxComplete("compression", "compress this"));
    diagnose(t, `${err.message}\n${err.formatTrail()}`);

    assert.ok(err instanceof AllCandidatesFailedError, err.name);
    assert.equal(err.name, "AllCandidatesFailedError");
    assert.equal(err.code, Code.Unavailable);
    assert.equal(err.reason, "ALL_CANDIDATES_FAILED");
    assert.match(err.requestId ?? "", UUID);
    assert.equal(err.metadata["request_id"], err.requestId);
    assert.deepEqual(err.fieldViolations, []);
    assert.deepEqual(shape(err.attempts).slice(0, 3), [
      ["codex", "codex-key", Action.NEXT_CANDIDATE],
      ["cheap", "cheap-key", Action.NEXT_CANDIDATE],
      ["main", "main-key", Action.NEXT_CANDIDATE],
    ]);
    assert.equal(err.attempts.length, 4, "three attempts and the give-up step");
    assert.equal(err.attempts.at(-1)!.action, Action.GIVE_UP);
    for (const a of err.attempts.slice(0, 3)) {
      assert.equal(a.errorClass, ErrorClass.INVALID_REQUEST);
      assert.equal(a.httpStatus, 400);
    }
    assert.deepEqual(delta(h, before), { main: 1, codex: 1, cheap: 1 });
    assert.doesNotMatch(err.message, /secret-of/);
    assert.match(err.formatTrail(), /-> give_up: /);

    const recorded = await client.explainFallback({ requestId: err.requestId! });
    assert.equal(recorded.outcome, Outcome.FAILED);
    assert.equal(recorded.errorReason, ErrorReason.ALL_CANDIDATES_FAILED);
    assert.deepEqual(recorded.steps, err.attempts);
  });

  test("invalid arguments throw InvalidArgumentError with field violations and call no provider", async () => {
    const before = h.fakes.counts(...PROVIDERS);
    const fields = (e: SwitchyardError) => e.fieldViolations.map((v) => v.field);

    const temperature = await rejection(client.complete("hi", { temperature: 7 }));
    assert.ok(temperature instanceof InvalidArgumentError, temperature.name);
    assert.equal(temperature.code, Code.InvalidArgument);
    assert.equal(temperature.reason, "INVALID_ARGUMENT");
    assert.deepEqual(fields(temperature), ["temperature"]);
    assert.ok(temperature.fieldViolations[0]!.description.length > 0);
    assert.deepEqual(temperature.attempts, []);

    const several = await rejection(
      client.auxComplete("compression", [{ role: "nobody" as ChatRole, content: "no role" }], { maxTokens: 0, model: "" }),
    );
    assert.ok(several instanceof InvalidArgumentError);
    assert.deepEqual(fields(several), ["messages.role", "model", "max_tokens"]);

    const empty = await rejection(client.auxComplete("compression", []));
    assert.ok(empty instanceof InvalidArgumentError);
    assert.deepEqual(fields(empty), ["messages"]);

    const unknown = await rejection(client.auxComplete("astrology", "hi"));
    assert.ok(unknown instanceof UnknownTaskError, unknown.name);
    assert.ok(unknown instanceof InvalidArgumentError);
    assert.equal(unknown.reason, "UNKNOWN_TASK");
    assert.equal(unknown.task, "astrology");
    assert.deepEqual(fields(unknown), ["task"]);

    assert.deepEqual(delta(h, before), { main: 0, codex: 0, cheap: 0 }, "no provider was called");
  });

  test("explainFallback of an unknown request id throws RequestNotFoundError", async () => {
    const err = await rejection(client.explainFallback({ requestId: "01900000-0000-7000-8000-000000000000" }));
    assert.ok(err instanceof RequestNotFoundError, err.name);
    assert.equal(err.code, Code.NotFound);
    assert.equal(err.reason, "REQUEST_NOT_FOUND");
  });

  // Last in this suite: the timed-out attempt may cool down main's key.
  test("a deadline that expires throws DeadlineError (500 ms deadline, 3 s provider)", async (t) => {
    const before = h.fakes.counts(...PROVIDERS);
    h.fakes.push("main", { status: 200, delayMs: 3000 });
    const start = performance.now();
    const err = await rejection(client.complete("hello", { timeoutMs: 500 }));
    const elapsed = performance.now() - start;
    t.diagnostic(`${err.name} after ${elapsed.toFixed(0)} ms, reason ${err.reason ?? "(client-side deadline)"}`);

    assert.ok(err instanceof DeadlineError, err.name);
    assert.equal(err.code, Code.DeadlineExceeded);
    // Whichever side notices first: the client's own deadline (no detail), or the
    // server's DEADLINE_EXHAUSTED with the trail.
    assert.ok(err.reason === undefined || err.reason === "DEADLINE_EXHAUSTED", err.reason);
    assert.ok(elapsed >= 450, `gave up too early: ${elapsed} ms`);
    assert.ok(elapsed < 2500, `did not give up at the deadline: ${elapsed} ms`);
    assert.equal(delta(h, before)["main"], 1);
  });
});

describe("streaming: answers and fallbacks", () => {
  let h: Harness;
  let client: SwitchyardClient;
  before(async () => {
    h = await Harness.start();
    client = new SwitchyardClient({ baseUrl: h.baseUrl, token: CLIENT_TOKEN });
  });
  after(async () => {
    client?.close();
    await h?.stop();
  });

  test("completeStream: the pieces in order, then finished with the usage and the trail", async () => {
    const before = h.fakes.counts(...PROVIDERS);
    h.fakes.push("main", { status: 200, stream: { pieces: ["Hel", "lo", ", ", "world"], intervalMs: 10 } });
    const stream = await client.completeStream(
      [
        { role: "system", content: "Be brief." },
        { role: "user", content: "hello" },
      ],
      { maxTokens: 64, temperature: 0.2 },
    );
    assert.match(stream.requestId, UUID);
    assert.equal(stream.servedBy?.provider, "main");
    assert.equal(stream.servedBy?.model, "main-model");
    assert.equal(stream.servedBy?.credentialId, "main-key");
    assert.deepEqual(shape(stream.attempts), [["main", "main-key", Action.SUCCEED]]);

    const { pieces, error } = await drain(stream);
    assert.equal(error, undefined, error?.message);
    assert.deepEqual(pieces, ["Hel", "lo", ", ", "world"]);
    assert.equal(stream.content, "Hello, world");
    const finished = stream.finished;
    assert.ok(finished !== undefined);
    assert.equal(finished.finishReason, "stop");
    assert.equal(finished.usage?.inputTokens, 12);
    assert.equal(finished.usage?.outputTokens, 4);
    assert.deepEqual(shape(finished.attempts), [["main", "main-key", Action.SUCCEED]]);

    assert.deepEqual(delta(h, before), { main: 1, codex: 0, cheap: 0 });
    const call = h.fakes.calls.at(-1)!;
    assert.equal(call.authorization, "Bearer secret-of-main-key");
    assert.equal(call.body.stream, true);
    assert.deepEqual(call.body.stream_options, { include_usage: true });
    assert.equal(call.body.model, "main-model");
    assert.equal(call.body.max_tokens, 64);
    assert.equal(call.body.temperature, 0.2);
    assert.deepEqual(call.body.messages, [
      { role: "system", content: "Be brief." },
      { role: "user", content: "hello" },
    ]);
    assert.equal(call.cutShort, false);

    const recorded = await client.explainFallback({ requestId: stream.requestId });
    assert.equal(recorded.outcome, Outcome.SUCCEEDED);
    assert.deepEqual(recorded.steps, finished.attempts);
  });

  test("completeStream of a plain scripted success streams its content; text() collects it", async () => {
    h.fakes.push("main", { status: 200, content: "all at once" });
    const stream = await client.completeStream("hello");
    assert.equal(await stream.text(), "all at once");
    assert.equal(stream.finished?.finishReason, "stop");
    assert.equal(h.fakes.calls.at(-1)!.body.stream, true);
  });

  test("failures before the first token (an error event, a truncated stream) are retried like unary ones", async (t) => {
    const before = h.fakes.counts(...PROVIDERS);
    h.fakes.push(
      "main",
      { status: 200, stream: { pieces: [], end: { error: { message: "Overloaded", type: "overloaded_error" } } } },
      { status: 200, stream: { pieces: [], end: "drop" } },
      { status: 200, stream: { pieces: ["fine"] } },
    );
    const stream = await client.completeStream("hello");
    assert.deepEqual((await drain(stream)).pieces, ["fine"], "no text of a failed attempt reaches the caller");
    diagnose(t, formatTrail(stream.finished!.attempts));
    assert.deepEqual(shape(stream.attempts), [
      ["main", "main-key", Action.RETRY_SAME],
      ["main", "main-key", Action.RETRY_SAME],
      ["main", "main-key", Action.SUCCEED],
    ]);
    assert.deepEqual(
      stream.attempts.map((a) => a.errorClass),
      [ErrorClass.OVERLOADED, ErrorClass.TRANSPORT, ErrorClass.NONE],
    );
    assert.deepEqual(stream.finished!.attempts, stream.attempts);
    assert.deepEqual(delta(h, before), { main: 3, codex: 0, cheap: 0 });
  });

  test("auxCompleteStream('compression'): 401 token_invalidated on codex falls through to the chain before any text", async (t) => {
    const before = h.fakes.counts(...PROVIDERS);
    const calls = h.fakes.calls.length;
    h.fakes.push("codex", { status: 401, body: TOKEN_INVALIDATED });
    h.fakes.push("cheap", { status: 200, stream: { pieces: ["A short ", "summary."], intervalMs: 10 } });
    const stream = await client.auxCompleteStream("compression", "Summarise the conversation so far.");
    diagnose(t, `started, request ${stream.requestId}:\n${formatTrail(stream.attempts)}`);

    assert.equal(stream.servedBy?.provider, "cheap");
    assert.equal(stream.servedBy?.model, "cheap-model");
    assert.equal(stream.servedBy?.credentialId, "cheap-key");
    assert.deepEqual(shape(stream.attempts), [
      ["codex", "codex-key", Action.NEXT_CANDIDATE],
      ["cheap", "cheap-key", Action.SUCCEED],
    ]);
    assert.equal(stream.attempts[0]!.errorClass, ErrorClass.AUTH_TERMINAL);
    assert.equal(stream.attempts[0]!.httpStatus, 401);
    assert.match(formatTrail(stream.attempts), /^ {2}#0 codex\/codex-mini \[codex-key\] auth_terminal 401 -> next_candidate: .+$/m);

    // One clean stream: cheap's text only, then finished.
    const { pieces, error } = await drain(stream);
    assert.equal(error, undefined, error?.message);
    assert.deepEqual(pieces, ["A short ", "summary."]);
    assert.equal(stream.finished?.finishReason, "stop");
    assert.deepEqual(stream.finished?.attempts, stream.attempts);

    // Exactly codex (401), then cheap (streamed); main never.
    assert.deepEqual(delta(h, before), { main: 0, codex: 1, cheap: 1 });
    assert.deepEqual(
      h.fakes.calls.slice(calls).map((c) => [c.provider, c.authorization, c.body.model, c.body.stream]),
      [
        ["codex", "Bearer secret-of-codex-key", "codex-mini", true],
        ["cheap", "Bearer secret-of-cheap-key", "cheap-model", true],
      ],
    );

    const recorded = await client.explainFallback({ requestId: stream.requestId });
    assert.equal(recorded.outcome, Outcome.SUCCEEDED);
    assert.deepEqual(recorded.steps, stream.finished?.attempts);

    // codex's key is dead now: the next stream skips it without contacting codex.
    const again = await client.auxCompleteStream("compression", "And again.");
    assert.equal(await again.text(), "answer from cheap");
    assert.deepEqual(shape(again.attempts), [
      ["codex", "", Action.SKIP_CANDIDATE],
      ["cheap", "cheap-key", Action.SUCCEED],
    ]);
    assert.deepEqual(delta(h, before), { main: 0, codex: 1, cheap: 2 });
  });

  test("leaving the loop early, cancel() and an aborted signal stop the call and the upstream stream", async () => {
    const pieces = Array.from({ length: 40 }, (_, i) => `p${i} `);
    const slow = { status: 200, stream: { pieces, intervalMs: 50 } };

    h.fakes.push("main", slow);
    const early = await client.completeStream("hello");
    const got: string[] = [];
    for await (const piece of early) {
      got.push(piece);
      if (got.length === 2) break;
    }
    assert.deepEqual(got, ["p0 ", "p1 "]);
    assert.equal(early.finished, undefined);
    const earlyCall = h.fakes.calls.at(-1)!;
    assert.ok(await eventually(() => earlyCall.cutShort), "the server stopped reading from the provider");

    h.fakes.push("main", slow);
    const cancelled = await client.completeStream("hello");
    const it = cancelled[Symbol.asyncIterator]();
    assert.deepEqual(await it.next(), { value: "p0 ", done: false });
    const pending = it.next();
    cancelled.cancel();
    const err = await rejection(pending);
    assert.equal(err.code, Code.Canceled);
    const cancelledCall = h.fakes.calls.at(-1)!;
    assert.ok(await eventually(() => cancelledCall.cutShort));

    h.fakes.push("main", slow);
    const abort = new AbortController();
    const signalled = await client.completeStream("hello", { signal: abort.signal });
    setTimeout(() => abort.abort(), 120);
    const { pieces: before, error } = await drain(signalled);
    assert.equal(error?.code, Code.Canceled);
    assert.ok(before.length >= 1 && before.length < pieces.length, `${before.length} pieces`);
    const signalledCall = h.fakes.calls.at(-1)!;
    assert.ok(await eventually(() => signalledCall.cutShort));

    // The connection still serves the next call.
    assert.equal(await (await client.completeStream("hello")).text(), "answer from main");
  });
});

describe("streaming: failures", () => {
  let h: Harness;
  let client: SwitchyardClient;
  before(async () => {
    h = await Harness.start();
    client = new SwitchyardClient({ baseUrl: h.baseUrl, token: CLIENT_TOKEN });
  });
  after(async () => {
    client?.close();
    await h?.stop();
  });

  test("auxCompleteStream: codex drops the connection after text -> StreamInterruptedError; the chain is not tried", async (t) => {
    const before = h.fakes.counts(...PROVIDERS);
    h.fakes.push("codex", { status: 200, stream: { pieces: ["Hel", "lo"], end: "drop" } });
    const stream = await client.auxCompleteStream("compression", "compress this");
    assert.equal(stream.servedBy?.provider, "codex");
    assert.deepEqual(shape(stream.attempts), [["codex", "codex-key", Action.SUCCEED]]);

    const { pieces, error } = await drain(stream);
    assert.ok(error !== undefined, "the stream ended without an error");
    diagnose(t, `${error.message}\n${error.formatTrail()}`);
    assert.deepEqual(pieces, ["Hel", "lo"]);
    assert.equal(stream.content, "Hello");
    assert.equal(stream.finished, undefined);

    assert.ok(error instanceof StreamInterruptedError, error.name);
    assert.equal(error.name, "StreamInterruptedError");
    assert.equal(error.code, Code.Aborted);
    assert.equal(error.reason, "STREAM_INTERRUPTED");
    assert.equal(error.requestId, stream.requestId);
    assert.equal(error.metadata["request_id"], stream.requestId);
    assert.equal(error.provider, "codex");
    assert.equal(error.model, "codex-mini");
    assert.equal(error.candidateIndex, 0);
    assert.equal(error.errorClass, "transport");
    assert.deepEqual(shape(error.attempts), [
      ["codex", "codex-key", Action.SUCCEED],
      ["codex", "codex-key", Action.STOP_STREAM],
    ]);
    const last = error.attempts.at(-1)!;
    assert.equal(last.action, Action.STOP_STREAM);
    assert.equal(last.errorClass, ErrorClass.TRANSPORT);
    assert.match(error.formatTrail(), /^ {2}#1 codex\/codex-mini \[codex-key\] transport 200 -> stop_stream: .+$/m);
    assert.doesNotMatch(error.message, /secret-of/);

    // The fallback chain (cheap) and main were never called.
    assert.deepEqual(delta(h, before), { main: 0, codex: 1, cheap: 0 });
    assert.equal(h.fakes.calls.at(-1)!.cutShort, true, "the fake dropped the connection");

    const recorded = await client.explainFallback({ requestId: stream.requestId });
    assert.equal(recorded.outcome, Outcome.FAILED);
    assert.equal(recorded.errorReason, ErrorReason.STREAM_INTERRUPTED);
    assert.deepEqual(recorded.steps, error.attempts);
  });

  test("completeStream: an error event after text -> StreamInterruptedError, no retry", async () => {
    const before = h.fakes.counts(...PROVIDERS);
    h.fakes.push("main", {
      status: 200,
      stream: { pieces: ["Once ", "upon"], end: { error: { message: "boom", type: "server_error" } } },
    });
    const stream = await client.completeStream("tell a story");
    const { pieces, error } = await drain(stream);
    assert.deepEqual(pieces, ["Once ", "upon"]);
    assert.ok(error instanceof StreamInterruptedError, error?.name);
    assert.equal(error.provider, "main");
    assert.equal(error.model, "main-model");
    assert.equal(error.candidateIndex, 0);
    assert.equal(error.errorClass, "server");
    assert.deepEqual(shape(error.attempts), [
      ["main", "main-key", Action.SUCCEED],
      ["main", "main-key", Action.STOP_STREAM],
    ]);
    assert.equal(error.attempts.at(-1)!.errorClass, ErrorClass.SERVER);
    assert.deepEqual(delta(h, before), { main: 1, codex: 0, cheap: 0 });
  });

  test("every candidate failing before any text rejects auxCompleteStream with AllCandidatesFailedError", async () => {
    const before = h.fakes.counts(...PROVIDERS);
    for (const p of ["cheap", "main"]) {
      h.fakes.push(p, { status: 400, body: BAD_REQUEST });
    }
    // codex's key is cooling or not (the drop above): either way no text reaches the caller.
    h.fakes.push("codex", { status: 400, body: BAD_REQUEST });
    const err = await rejection(client.auxCompleteStream("compression", "compress this"));
    assert.ok(err instanceof AllCandidatesFailedError, err.name);
    assert.equal(err.code, Code.Unavailable);
    assert.match(err.requestId ?? "", UUID);
    assert.equal(err.attempts.at(-1)!.action, Action.GIVE_UP);
    assert.deepEqual(
      err.attempts.filter((a) => a.credentialId !== "").map((a) => [a.provider, a.action]),
      delta(h, before)["codex"] === 1
        ? [
            ["codex", Action.NEXT_CANDIDATE],
            ["cheap", Action.NEXT_CANDIDATE],
            ["main", Action.NEXT_CANDIDATE],
          ]
        : [
            ["cheap", Action.NEXT_CANDIDATE],
            ["main", Action.NEXT_CANDIDATE],
          ],
    );
    assert.equal(delta(h, before)["cheap"], 1);
    assert.equal(delta(h, before)["main"], 1);

    const unknown = await rejection(client.auxCompleteStream("astrology", "hi"));
    assert.ok(unknown instanceof UnknownTaskError, unknown.name);
    const invalid = await rejection(client.completeStream("hi", { temperature: 7 }));
    assert.ok(invalid instanceof InvalidArgumentError, invalid.name);
    assert.deepEqual(invalid.fieldViolations.map((v) => v.field), ["temperature"]);
  });

  // Last: the interrupted attempt may cool down main's key.
  test("a deadline that expires mid-stream ends it with an error after the pieces so far", async (t) => {
    h.fakes.push("main", { status: 200, stream: { pieces: Array.from({ length: 40 }, (_, i) => `p${i} `), intervalMs: 50 } });
    const start = performance.now();
    const stream = await client.completeStream("hello", { timeoutMs: 600 });
    const { pieces, error } = await drain(stream);
    const elapsed = performance.now() - start;
    assert.ok(error !== undefined);
    t.diagnostic(`${error.name} after ${elapsed.toFixed(0)} ms and ${pieces.length} pieces: ${error.message}`);
    // Whichever side notices first: the server (its budget ran out mid-stream, so
    // STREAM_INTERRUPTED with the trail) or the client's own deadline.
    if (error instanceof StreamInterruptedError) {
      assert.equal(error.attempts.at(-1)!.action, Action.STOP_STREAM);
    } else {
      assert.ok(error instanceof DeadlineError, error.name);
    }
    assert.ok(pieces.length >= 1 && pieces.length < 40, `${pieces.length} pieces`);
    assert.ok(elapsed < 2500, `did not stop at the deadline: ${elapsed} ms`);
  });
});
