import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import {
  type AuxCompleteResponse,
  type CompleteResponse,
  type ExplainFallbackResponse,
  type SimulatedOutcomeSchema,
  SimulationSchema,
  SwitchyardService,
  TransportFailure,
} from "./gen/switchyard/v1/switchyard_pb.js";
import {
  type CallOptions,
  callWith,
  type ConnectCallOptions,
  connect,
  type ConnectionOptions,
} from "./call.js";
import { type CompletionStream, openCompletionStream, type StreamResponse } from "./stream.js";
import { type ChatOptionsInput, type Messages, toChatOptions, toMessages } from "./chat.js";

export type {
  ChatMessage,
  ChatOptionsInput,
  ChatRole,
  ContentPartInput,
  Messages,
  ResponseFormatInput,
  ToolCallInput,
  ToolChoiceInput,
  ToolInput,
} from "./chat.js";

export type { CallOptions } from "./call.js";

/**
 * Options of `complete`, `auxComplete`, `completeStream` and `auxCompleteStream`:
 * the chat options (tools, tool choice, structured output, sampling) and these.
 */
export interface CompletionOptions extends CallOptions, ChatOptionsInput {
  /** Overrides the model of the first candidate. */
  model?: string;
  /** Upper bound on generated tokens; must be positive. */
  maxTokens?: number;
  /** Sampling temperature in [0, 2]. */
  temperature?: number;
}

/** One scripted upstream outcome of a simulation: an HTTP answer or a transport failure. */
export type SimulatedOutcomeInput =
  | {
      http: { status: number; body?: string; headers?: Record<string, string> };
      /** Simulated time the attempt takes. */
      durationMs?: number;
    }
  | {
      transport: TransportFailure;
      durationMs?: number;
    };

/** What `explainFallback({ simulation })` simulates. */
export interface SimulationInput {
  /** The caller: the primary turn, or an auxiliary task by name. */
  caller: "primary" | { task: string };
  /** Outcomes of successive attempts, in order; once they run out, attempts succeed. */
  outcomes?: readonly SimulatedOutcomeInput[];
  /** Time budget; 0 or absent means the caller's configured timeout. */
  budgetMs?: number;
  /** Plan as if every credential were live, ignoring cooldowns and dead marks. */
  assumeAllCredentialsLive?: boolean;
  /** Overrides the model of the first candidate. */
  model?: string;
}

/** The query of `explainFallback`: a past request's id, or a simulation. */
export type ExplainQuery = { requestId: string } | { simulation: SimulationInput };

/** Options of `new SwitchyardClient()`. */
export type SwitchyardClientOptions = ConnectionOptions;

/** The fields every chat request shares. */
function chatFields(messages: Messages, opts: CompletionOptions) {
  return {
    messages: toMessages(messages),
    model: opts.model,
    maxTokens: opts.maxTokens,
    temperature: opts.temperature,
    options: toChatOptions(opts),
  };
}

function toSimulation(s: SimulationInput): MessageInitShape<typeof SimulationSchema> {
  const outcomes = (s.outcomes ?? []).map(
    (o): MessageInitShape<typeof SimulatedOutcomeSchema> => ({
      durationMs: BigInt(o.durationMs ?? 0),
      outcome:
        "http" in o
          ? {
              case: "http",
              value: { status: o.http.status, body: o.http.body ?? "", headers: o.http.headers ?? {} },
            }
          : { case: "transport", value: o.transport },
    }),
  );
  return {
    caller: {
      kind: s.caller === "primary" ? { case: "primary", value: {} } : { case: "task", value: s.caller.task },
    },
    outcomes,
    budgetMs: BigInt(s.budgetMs ?? 0),
    assumeAllCredentialsLive: s.assumeAllCredentialsLive ?? false,
    model: s.model,
  };
}

/**
 * The Switchyard client: gRPC over HTTP/2 with Connect. Every method throws a
 * `SwitchyardError` subclass on failure (see errors.ts), carrying the reason, the
 * request id and the attempt trail.
 *
 *     const client = new SwitchyardClient({ baseUrl: "http://127.0.0.1:50051" });
 *     const answer = await client.auxComplete("compression", "Summarise this.");
 *     console.log(formatTrail(answer.attempts));
 *     client.close();
 */
export class SwitchyardClient {
  /** The generated Connect client, for anything this layer does not wrap. */
  readonly raw: Client<typeof SwitchyardService>;
  private readonly sessions: Http2SessionManager | undefined;
  // `#` fields: `console.log(client)` and `util.inspect` do not show the token.
  readonly #token: string | undefined;
  readonly #timeoutMs: number | undefined;

  constructor(options: SwitchyardClientOptions) {
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs;
    const { transport, sessions } = connect(options);
    this.sessions = sessions;
    this.raw = createClient(SwitchyardService, transport);
  }

  /** Answers the primary turn of the agent's conversation. */
  async complete(messages: Messages, opts: CompletionOptions = {}): Promise<CompleteResponse> {
    return this.call(opts, (o) =>
      this.raw.complete(
        chatFields(messages, opts),
        o,
      ),
    );
  }

  /** Answers an auxiliary task (`compression`, `vision`, `title_generation`...). */
  async auxComplete(task: string, messages: Messages, opts: CompletionOptions = {}): Promise<AuxCompleteResponse> {
    return this.call(opts, (o) =>
      this.raw.auxComplete(
        { task, ...chatFields(messages, opts) },
        o,
      ),
    );
  }

  /**
   * Streams the primary turn. Resolves once a provider has produced its first
   * token, after any failover (the same policy as `complete`, which fails over only
   * before that token); rejects like `complete` when every candidate failed first.
   * Iterate the result for the text pieces; see `CompletionStream`. `timeoutMs`
   * and `signal` cover the whole stream, up to its last event.
   *
   *     const stream = await client.completeStream("Tell me a story.");
   *     for await (const piece of stream) process.stdout.write(piece);
   */
  async completeStream(messages: Messages, opts: CompletionOptions = {}): Promise<CompletionStream> {
    return this.stream(opts, (o) =>
      this.raw.completeStream(
        chatFields(messages, opts),
        o,
      ),
    );
  }

  /** Streams an auxiliary task (`compression`, `vision`...), as `completeStream` does the primary turn. */
  async auxCompleteStream(task: string, messages: Messages, opts: CompletionOptions = {}): Promise<CompletionStream> {
    return this.stream(opts, (o) =>
      this.raw.auxCompleteStream(
        { task, ...chatFields(messages, opts) },
        o,
      ),
    );
  }

  /**
   * Returns the recorded trail of a past request (`{ requestId }`), or what the
   * policy would do for a caller and scripted upstream outcomes (`{ simulation }`),
   * without contacting a provider.
   */
  async explainFallback(query: ExplainQuery, opts: CallOptions = {}): Promise<ExplainFallbackResponse> {
    const request =
      "requestId" in query
        ? { query: { case: "requestId" as const, value: query.requestId } }
        : { query: { case: "simulation" as const, value: toSimulation(query.simulation) } };
    return this.call(opts, (o) => this.raw.explainFallback(request, o));
  }

  /**
   * Closes the HTTP/2 connection, cancelling calls in flight; a later call opens a
   * new one. An idle connection never keeps Node.js alive, so this is optional.
   */
  close(): void {
    this.sessions?.abort();
  }

  /**
   * Starts a streaming call with its own abort controller (joined with the
   * caller's `signal`) so that `CompletionStream` can cancel it, and reads up to
   * its `started` event.
   */
  private async stream(
    opts: CallOptions,
    run: (o: ConnectCallOptions) => AsyncIterable<StreamResponse>,
  ): Promise<CompletionStream> {
    const abort = new AbortController();
    const signal = opts.signal === undefined ? abort.signal : AbortSignal.any([opts.signal, abort.signal]);
    return this.call({ ...opts, signal }, (o) => openCompletionStream(run(o), abort));
  }

  private async call<T>(opts: CallOptions, run: (o: ConnectCallOptions) => Promise<T>): Promise<T> {
    return callWith({ token: this.#token, timeoutMs: this.#timeoutMs }, opts, run);
  }
}
