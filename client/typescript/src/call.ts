// One unary or streaming call of either client: the bearer token, the deadline and
// the typed error. Shared by `SwitchyardClient` and `AdminClient`.

import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { errorFromConnect } from "./errors.js";

/** Options of every call. */
export interface CallOptions {
  /**
   * Bearer token sent as `authorization: Bearer <token>`, overriding the client's
   * (`""` sends none). A server whose config lists `auth.client_token_sha256`
   * refuses a call without an accepted token with `UnauthenticatedError`.
   */
  token?: string;
  /** Deadline of the call in milliseconds, sent as `grpc-timeout`; overrides the client's. */
  timeoutMs?: number;
  /** Aborts the call. */
  signal?: AbortSignal;
  /** Extra request headers. */
  headers?: HeadersInit;
}

/** What a generated Connect method takes besides its request. */
export interface ConnectCallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  headers: Headers;
}

/**
 * Runs `run` with the call's headers (the token: the call's, else the client's
 * default) and deadline, and turns any failure into a `SwitchyardError` subclass.
 */
export async function callWith<T>(
  defaults: { token: string | undefined; timeoutMs: number | undefined },
  opts: CallOptions,
  run: (o: ConnectCallOptions) => Promise<T>,
): Promise<T> {
  const headers = new Headers(opts.headers);
  const token = opts.token ?? defaults.token;
  if (token !== undefined && token !== "") {
    headers.set("authorization", `Bearer ${token}`);
  }
  try {
    return await run({ timeoutMs: opts.timeoutMs ?? defaults.timeoutMs, signal: opts.signal, headers });
  } catch (e) {
    throw errorFromConnect(e);
  }
}

/** How a client reaches the server. */
export interface ConnectionOptions {
  /** The server, e.g. `http://127.0.0.1:50051` (plain HTTP/2) or an `https://` URL. */
  baseUrl: string;
  /** Default bearer token of every call. */
  token?: string;
  /** Default deadline of every call in milliseconds; none when absent. */
  timeoutMs?: number;
  /** Connect interceptors, run on every call (logging, metrics, headers...). */
  interceptors?: Interceptor[];
  /**
   * A ready transport to use instead of the gRPC transport built from `baseUrl`
   * (e.g. `createRouterTransport` in tests). `close()` leaves it alone.
   */
  transport?: Transport;
}

/**
 * The options' transport, else a gRPC transport over its own HTTP/2 session (returned
 * too, so that `close()` can end it).
 */
export function connect(options: ConnectionOptions): { transport: Transport; sessions?: Http2SessionManager } {
  if (options.transport !== undefined) {
    return { transport: options.transport };
  }
  const sessions = new Http2SessionManager(options.baseUrl);
  const transport = createGrpcTransport({
    baseUrl: options.baseUrl,
    sessionManager: sessions,
    interceptors: options.interceptors,
  });
  return { transport, sessions };
}
