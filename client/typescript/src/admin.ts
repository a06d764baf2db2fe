// AdminClient: the admin API (`switchyard.v1.CredentialService`) with the operator's
// bearer token (`auth.admin_token_sha256` on the server). Secrets go in and never
// come out: every answer is a `CredentialInfo`.

import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { type CallOptions, callWith, type ConnectCallOptions, connect, type ConnectionOptions } from "./call.js";
import { errorFromConnect } from "./errors.js";
import {
  type CredentialInfo,
  CredentialService,
  type PutCredentialRequestSchema,
} from "./gen/switchyard/v1/switchyard_pb.js";

/** Options of `new AdminClient()`: `token` is the admin token, sent with every call. */
export type AdminClientOptions = ConnectionOptions;

/** Where a credential goes and how it is tried: `label` is free text, lower `priority` first. */
export interface PutOptions extends CallOptions {
  label?: string;
  priority?: number;
}

/** An OAuth token set and how to refresh it (RFC 6749 refresh grant). */
export interface OAuthTokensInput {
  accessToken: string;
  refreshToken: string;
  /** The token endpoint, an http or https URL. */
  tokenUrl: string;
  clientId: string;
  /** For a confidential client only. */
  clientSecret?: string;
  scope?: string;
  /** Expiry of the access token, Unix milliseconds; unknown when absent. */
  expiresAtUnixMs?: number;
}

/**
 * The admin API of a running server: put, list, delete and refresh provider
 * credentials. Every method throws a `SwitchyardError` subclass on failure:
 * `PermissionDeniedError` (a token that is not an admin token, or the admin API
 * is off), `CredentialNotFoundError`, `NotRefreshableError`, `RefreshFailedError`,
 * `InvalidArgumentError` (with `fieldViolations`).
 *
 *     const admin = new AdminClient({ baseUrl: "http://127.0.0.1:50051", token: process.env.SWITCHYARD_ADMIN_TOKEN });
 *     await admin.putApiKey("openrouter-key", "openrouter", process.env.OPENROUTER_KEY!);
 *     for (const c of await admin.listCredentials()) console.log(c.id, CredentialState[c.state]);
 */
export class AdminClient {
  /** The generated Connect client, for anything this layer does not wrap. */
  readonly raw: Client<typeof CredentialService>;
  private readonly sessions: Http2SessionManager | undefined;
  // A `#` field: `console.log(admin)` and `util.inspect` do not show the admin token.
  readonly #defaults: { token: string | undefined; timeoutMs: number | undefined };

  constructor(options: AdminClientOptions) {
    this.#defaults = { token: options.token, timeoutMs: options.timeoutMs };
    const { transport, sessions } = connect(options);
    this.sessions = sessions;
    this.raw = createClient(CredentialService, transport);
  }

  /** Stores a static API key as credential `id` of `provider`, replacing any credential with that id. */
  async putApiKey(id: string, provider: string, key: string, opts: PutOptions = {}): Promise<CredentialInfo> {
    return this.put({ id, provider, material: { case: "apiKey", value: { key } } }, opts);
  }

  /** Stores an OAuth token set as credential `id` of `provider`, replacing any credential with that id. */
  async putOAuth(id: string, provider: string, tokens: OAuthTokensInput, opts: PutOptions = {}): Promise<CredentialInfo> {
    const value = {
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      tokenUrl: tokens.tokenUrl,
      clientId: tokens.clientId,
      clientSecret: tokens.clientSecret ?? "",
      scope: tokens.scope ?? "",
      expiresAtUnixMs: BigInt(tokens.expiresAtUnixMs ?? 0),
    };
    return this.put({ id, provider, material: { case: "oauth", value } }, opts);
  }

  /** Every credential (or only `provider`'s), by provider then priority, without secrets. */
  async listCredentials(opts: CallOptions & { provider?: string } = {}): Promise<CredentialInfo[]> {
    const answer = await this.call(opts, (o) => this.raw.listCredentials({ provider: opts.provider ?? "" }, o));
    return answer.credentials;
  }

  /** Removes credential `id`; `CredentialNotFoundError` when there is none. */
  async deleteCredential(id: string, opts: CallOptions = {}): Promise<void> {
    await this.call(opts, (o) => this.raw.deleteCredential({ id }, o));
  }

  /**
   * Refreshes OAuth credential `id` now. `NotRefreshableError` for a static key;
   * `RefreshFailedError` when the token endpoint refused (code `FAILED_PRECONDITION`,
   * the credential is now dead) or failed (code `UNAVAILABLE`, try again).
   */
  async refreshCredential(id: string, opts: CallOptions = {}): Promise<CredentialInfo> {
    const answer = await this.call(opts, (o) => this.raw.refreshCredential({ id }, o));
    return required(answer.credential);
  }

  /** Closes the HTTP/2 connection; optional, as an idle one never keeps Node.js alive. */
  close(): void {
    this.sessions?.abort();
  }

  private async put(
    request: MessageInitShape<typeof PutCredentialRequestSchema>,
    opts: PutOptions,
  ): Promise<CredentialInfo> {
    const full = { ...request, label: opts.label ?? "", priority: BigInt(opts.priority ?? 0) };
    const answer = await this.call(opts, (o) => this.raw.putCredential(full, o));
    return required(answer.credential);
  }

  private async call<T>(opts: CallOptions, run: (o: ConnectCallOptions) => Promise<T>): Promise<T> {
    return callWith(this.#defaults, opts, run);
  }
}

/** The server always sets `credential`; an answer without one is a broken server (`InternalError`). */
function required(credential: CredentialInfo | undefined): CredentialInfo {
  if (credential === undefined) {
    throw errorFromConnect(new ConnectError("the server answered without the credential", Code.Internal));
  }
  return credential;
}
