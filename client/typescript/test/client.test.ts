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
  DeadlineError,
  ErrorClass,
  ErrorReason,
  formatTrail,
  InvalidArgumentError,
  Outcome,
  PermissionDeniedError,
  RequestNotFoundError,
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
      ...Array(4).fill(`Bearer ${CLIENT_TOKEN}`),
      `Bearer ${CLIENT_TOKEN}`,
    ]);
    assert.deepEqual(delta(h, before), { main: 4, codex: 1, cheap: 0 });
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
