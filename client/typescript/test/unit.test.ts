// Unit tests without the server: the trail format, the mapping of statuses to
// typed errors, and the requests the client builds, over Connect's in-memory
// router transport (errors and their details still go through serialization).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ConnectError, createRouterTransport } from "@connectrpc/connect";
import {
  Action,
  AllCandidatesFailedError,
  AttemptSchema,
  BadRequestSchema,
  Code,
  ContentPolicyError,
  ContextOverflowError,
  DeadlineError,
  ErrorClass,
  ErrorInfoSchema,
  type ExplainFallbackRequest,
  FailureDetailSchema,
  formatTrail,
  InternalError,
  InvalidArgumentError,
  PermissionDeniedError,
  RequestNotFoundError,
  Role,
  SwitchyardClient,
  SwitchyardError,
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
  const cases: [Code, string, Function][] = [
    [Code.Unavailable, "ALL_CANDIDATES_FAILED", AllCandidatesFailedError],
    [Code.OutOfRange, "CONTEXT_OVERFLOW", ContextOverflowError],
    [Code.FailedPrecondition, "CONTENT_POLICY", ContentPolicyError],
    [Code.DeadlineExceeded, "DEADLINE_EXHAUSTED", DeadlineError],
    [Code.InvalidArgument, "UNKNOWN_TASK", UnknownTaskError],
    [Code.InvalidArgument, "INVALID_ARGUMENT", InvalidArgumentError],
    [Code.NotFound, "REQUEST_NOT_FOUND", RequestNotFoundError],
    [Code.Internal, "INTERNAL", InternalError],
    [Code.Unauthenticated, "UNAUTHENTICATED", UnauthenticatedError],
    [Code.PermissionDenied, "PERMISSION_DENIED", PermissionDeniedError],
  ];
  for (const [code, reason, ctor] of cases) {
    test(`${reason} -> ${ctor.name}`, async () => {
      const { client } = clientThrowing(() => failure(code, reason));
      const err = await thrown(client.complete("hi"));
      assert.equal(err.constructor, ctor);
      assert.equal(err.name, ctor.name);
      assert.equal(err.code, code);
      assert.equal(err.reason, reason);
      assert.equal(err.requestId, "req-1");
      assert.deepEqual(err.attempts, trail);
      assert.equal(err.formatTrail(), formatTrail(trail));
      assert.ok(err.cause instanceof ConnectError);
      assert.match(err.message, new RegExp(`failed: ${reason}`));
    });
  }

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
