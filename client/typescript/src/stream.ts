import { Code, ConnectError } from "@connectrpc/connect";
import type {
  Attempt,
  AuxCompleteStreamResponse,
  CompleteStreamResponse,
  ServedBy,
  StreamFinished,
  StreamStarted,
  ToolCall,
  ToolCallDelta,
} from "./gen/switchyard/v1/switchyard_pb.js";
import { errorFromConnect } from "./errors.js";

/** A response message of either streaming RPC; both carry the same `event` oneof. */
export type StreamResponse = CompleteStreamResponse | AuxCompleteStreamResponse;

/** A broken protocol: the server did not send `started`, deltas, `finished`, in that order. */
function protocolError(what: string): ConnectError {
  return new ConnectError(`protocol error: ${what}`, Code.Internal);
}

/**
 * A streamed answer of `completeStream` or `auxCompleteStream`, once a provider has
 * produced its first token: from here on no other candidate is tried.
 *
 * Iterate it (once) for the text pieces, in order, or iterate `pieces()` for the
 * text and the tool-call pieces alike (`ToolCallDelta`: the first piece of each
 * call has its id and name, the next ones add to its arguments; `toolCalls` holds
 * the calls assembled once it has finished). The iteration ends after the
 * server's `finished` event (then `finished` holds the usage, the finish reason
 * and the whole trail), or throws a `SwitchyardError`: a `StreamInterruptedError`
 * when the provider failed after text was sent. Leaving the loop early (`break`,
 * `return`, an exception in the loop body) or `cancel()` cancels the call.
 *
 *     const stream = await client.completeStream("Tell me a story.");
 *     for await (const piece of stream) process.stdout.write(piece);
 *     console.log(stream.finished?.usage);
 */
export class CompletionStream implements AsyncIterable<string> {
  /** The server's first event: request id, who answers, the trail so far. */
  readonly started: StreamStarted;
  private readonly events: AsyncIterator<StreamResponse>;
  private readonly abort: AbortController;
  private readonly texts: string[] = [];
  private finishedEvent: StreamFinished | undefined;
  private iterated = false;

  /** Use `SwitchyardClient.completeStream` or `auxCompleteStream`. */
  constructor(started: StreamStarted, events: AsyncIterator<StreamResponse>, abort: AbortController) {
    this.started = started;
    this.events = events;
    this.abort = abort;
  }

  /** The request id, for `explainFallback({ requestId })`. */
  get requestId(): string {
    return this.started.requestId;
  }

  /** The provider, model and credential answering. */
  get servedBy(): ServedBy | undefined {
    return this.started.servedBy;
  }

  /**
   * The steps up to and including the attempt that produced the first token
   * (failovers, retries, skips before it). The whole trail is `finished.attempts`.
   */
  get attempts(): Attempt[] {
    return this.started.attempts;
  }

  /**
   * The server's last event, once the iteration has ended normally: `usage`,
   * `finishReason`, and `attempts` (the whole trail). Undefined before that, and
   * after a failure or a cancellation.
   */
  get finished(): StreamFinished | undefined {
    return this.finishedEvent;
  }

  /** The tool calls of the answer, assembled, once the stream has finished (empty before). */
  get toolCalls(): ToolCall[] {
    return this.finishedEvent?.toolCalls ?? [];
  }

  /** The text received so far: every piece the iteration has yielded, joined. */
  get content(): string {
    return this.texts.join("");
  }

  /**
   * Cancels the call: the server stops reading from the provider. A pending or
   * later read throws a `SwitchyardError` with `code` `Code.Canceled`. Does
   * nothing once the stream has ended.
   */
  cancel(): void {
    this.abort.abort();
  }

  /** Reads the rest of the stream and returns the whole text (`content`). */
  async text(): Promise<string> {
    for await (const _ of this) {
      // `content` collects the pieces.
    }
    return this.content;
  }

  /** The text pieces, in order; a stream can be iterated once. */
  async *[Symbol.asyncIterator](): AsyncGenerator<string, void, undefined> {
    for await (const piece of this.pieces()) {
      if (typeof piece === "string") yield piece;
    }
  }

  /** The text and tool-call pieces, in order; a stream can be iterated once. */
  async *pieces(): AsyncGenerator<string | ToolCallDelta, void, undefined> {
    if (this.iterated) {
      throw new TypeError("a CompletionStream can be iterated only once");
    }
    this.iterated = true;
    let complete = false;
    try {
      for (;;) {
        let next: IteratorResult<StreamResponse>;
        try {
          next = await this.events.next();
        } catch (e) {
          throw errorFromConnect(e);
        }
        if (next.done) {
          break;
        }
        const event = next.value.event;
        switch (event.case) {
          case "delta":
            if (this.finishedEvent !== undefined) {
              throw errorFromConnect(protocolError("text after the finished event"));
            }
            this.texts.push(event.value);
            yield event.value;
            break;
          case "toolCallDelta":
            if (this.finishedEvent !== undefined) {
              throw errorFromConnect(protocolError("a tool call after the finished event"));
            }
            yield event.value;
            break;
          case "finished":
            if (this.finishedEvent !== undefined) {
              throw errorFromConnect(protocolError("a second finished event"));
            }
            this.finishedEvent = event.value;
            break;
          case "started":
            throw errorFromConnect(protocolError("a second started event"));
          default:
            // An event this client does not know (a newer server): skipped.
            break;
        }
      }
      if (this.finishedEvent === undefined) {
        throw errorFromConnect(protocolError("the stream ended without a finished event"));
      }
      complete = true;
    } finally {
      if (!complete) {
        // Left early or failed: release the call (a no-op when it is over).
        this.abort.abort();
      }
    }
  }
}

/**
 * Reads the first event of a streaming call, which must be `started`, and returns
 * the stream. `abort` is the controller whose signal the call was given; it is
 * aborted when the first read fails. Errors are thrown as they come (the caller
 * maps them to `SwitchyardError`).
 */
export async function openCompletionStream(
  responses: AsyncIterable<StreamResponse>,
  abort: AbortController,
): Promise<CompletionStream> {
  const events = responses[Symbol.asyncIterator]();
  try {
    const first = await events.next();
    if (first.done) {
      throw protocolError("the stream ended without a started event");
    }
    const event = first.value.event;
    if (event.case !== "started") {
      throw protocolError(`the first event is ${event.case ?? "unknown"}, not started`);
    }
    return new CompletionStream(event.value, events, abort);
  } catch (e) {
    abort.abort();
    throw e;
  }
}
