// AdminClient against the real server: put, list, delete and refresh credentials
// with the admin token, and each typed error the admin API can return.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import {
  AdminClient,
  Code,
  CredentialKind,
  CredentialNotFoundError,
  CredentialState,
  ErrorReason,
  InvalidArgumentError,
  NotRefreshableError,
  PermissionDeniedError,
  RefreshFailedError,
  SwitchyardClient,
  SwitchyardError,
  UnauthenticatedError,
} from "@switchyard/client";
import { ADMIN_TOKEN, CLIENT_TOKEN, Harness } from "./harness.js";

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

/**
 * An OAuth token endpoint: refresh token `good-refresh-token` gets a new access token,
 * any other is refused with 400 `invalid_grant`. Counts its calls.
 */
async function tokenEndpoint(): Promise<{ url: string; calls: string[]; server: Server }> {
  const calls: string[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8").on("data", (c: string) => (body += c));
    req.on("end", () => {
      const refresh = new URLSearchParams(body).get("refresh_token") ?? "";
      calls.push(refresh);
      res.setHeader("content-type", "application/json");
      if (refresh === "good-refresh-token") {
        res.end(JSON.stringify({ access_token: "fresh-access", expires_in: 3600, token_type: "Bearer" }));
      } else {
        res.statusCode = 400;
        res.end(JSON.stringify({ error: "invalid_grant" }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/token`, calls, server };
}

describe("admin API (AdminClient with auth.admin_token_sha256)", () => {
  let h: Harness;
  let admin: AdminClient;
  let oauth: Awaited<ReturnType<typeof tokenEndpoint>>;
  before(async () => {
    h = await Harness.start();
    admin = new AdminClient({ baseUrl: h.baseUrl, token: ADMIN_TOKEN });
    oauth = await tokenEndpoint();
  });
  after(async () => {
    admin?.close();
    oauth?.server.close();
    await h?.stop();
  });

  test("putApiKey stores a key the server then uses; the answer holds no secret", async () => {
    const info = await admin.putApiKey("main-new", "main", "secret-new-main", { label: "rotated", priority: -1 });
    assert.equal(info.id, "main-new");
    assert.equal(info.provider, "main");
    assert.equal(info.kind, CredentialKind.API_KEY);
    assert.equal(info.label, "rotated");
    assert.equal(info.priority, -1n);
    assert.equal(info.state, CredentialState.LIVE);
    assert.doesNotMatch(JSON.stringify(info, (_, v) => (typeof v === "bigint" ? String(v) : v)), /secret-new-main/);

    const client = new SwitchyardClient({ baseUrl: h.baseUrl, token: CLIENT_TOKEN });
    try {
      const answer = await client.complete("hello");
      assert.equal(answer.servedBy?.credentialId, "main-new");
      assert.equal(h.fakes.calls.at(-1)?.authorization, "Bearer secret-new-main");
    } finally {
      client.close();
    }
  });

  test("listCredentials lists every credential, or one provider's", async () => {
    const all = await admin.listCredentials();
    const ids = all.map((c) => c.id);
    for (const id of ["main-key", "codex-key", "cheap-key"]) assert.ok(ids.includes(id), `${id} in ${ids}`);
    const codex = await admin.listCredentials({ provider: "codex" });
    assert.deepEqual(
      codex.map((c) => c.id),
      ["codex-key"],
    );
  });

  test("deleteCredential removes it; a second delete is CredentialNotFoundError", async () => {
    await admin.putApiKey("to-delete", "cheap", "secret-to-delete");
    await admin.deleteCredential("to-delete");
    assert.ok(!(await admin.listCredentials()).some((c) => c.id === "to-delete"));
    const e = await rejection(admin.deleteCredential("to-delete"));
    assert.ok(e instanceof CredentialNotFoundError, e.name);
    assert.equal(e.errorReason, ErrorReason.CREDENTIAL_NOT_FOUND);
    assert.equal(e.reason, "CREDENTIAL_NOT_FOUND");
    assert.equal(e.code, Code.NotFound);
  });

  test("refreshCredential of an OAuth credential calls the token endpoint", async () => {
    const put = await admin.putOAuth("codex-oauth", "codex", {
      accessToken: "old-access",
      refreshToken: "good-refresh-token",
      tokenUrl: oauth.url,
      clientId: "switchyard-test",
    });
    assert.equal(put.kind, CredentialKind.OAUTH);
    const before = oauth.calls.length;
    const info = await admin.refreshCredential("codex-oauth");
    assert.deepEqual(oauth.calls.slice(before), ["good-refresh-token"]);
    assert.equal(info.state, CredentialState.LIVE);
    assert.ok(info.generation > put.generation, `generation ${put.generation} -> ${info.generation}`);
    assert.ok(info.expiresAtUnixMs > 0n);
  });

  test("refreshCredential refused by the token endpoint: RefreshFailedError, credential dead", async () => {
    await admin.putOAuth("codex-refused", "codex", {
      accessToken: "old-access",
      refreshToken: "revoked-refresh-token",
      tokenUrl: oauth.url,
      clientId: "switchyard-test",
    });
    const e = await rejection(admin.refreshCredential("codex-refused"));
    assert.ok(e instanceof RefreshFailedError, e.name);
    assert.equal(e.errorReason, ErrorReason.REFRESH_FAILED);
    assert.equal(e.code, Code.FailedPrecondition);
    const [info] = await admin.listCredentials({ provider: "codex" }).then((l) => l.filter((c) => c.id === "codex-refused"));
    assert.equal(info?.state, CredentialState.DEAD);
  });

  test("refreshCredential of a static key: NotRefreshableError", async () => {
    const e = await rejection(admin.refreshCredential("main-key"));
    assert.ok(e instanceof NotRefreshableError, e.name);
    assert.equal(e.errorReason, ErrorReason.NOT_REFRESHABLE);
    assert.equal(e.code, Code.FailedPrecondition);
  });

  test("an unknown provider: InvalidArgumentError naming the field", async () => {
    const e = await rejection(admin.putApiKey("x", "no-such-provider", "secret-x"));
    assert.ok(e instanceof InvalidArgumentError, e.name);
    assert.deepEqual(
      e.fieldViolations.map((v) => v.field),
      ["provider"],
    );
  });

  test("the admin token is not shown by console.log / util.inspect", async () => {
    const { inspect } = await import("node:util");
    assert.doesNotMatch(inspect(admin, { depth: 5 }), new RegExp(ADMIN_TOKEN));
  });

  test("an agent token: PermissionDeniedError; no token: UnauthenticatedError", async () => {
    const denied = await rejection(admin.listCredentials({ token: CLIENT_TOKEN }));
    assert.ok(denied instanceof PermissionDeniedError, denied.name);
    assert.equal(denied.errorReason, ErrorReason.PERMISSION_DENIED);
    assert.equal(denied.code, Code.PermissionDenied);
    const anonymous = await rejection(admin.listCredentials({ token: "" }));
    assert.ok(anonymous instanceof UnauthenticatedError, anonymous.name);
  });
});
