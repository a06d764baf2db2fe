import { Code, ConnectError } from "@connectrpc/connect";
import { Action, FailureDetailSchema, type Attempt } from "./gen/switchyard/v1/switchyard_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "./rpc.js";
import { errorClassName, formatTrail } from "./trail.js";

/** The `google.rpc.ErrorInfo.domain` of every Switchyard error. */
export const ERROR_DOMAIN = "switchyard.dev";

/** One invalid request field, from the `google.rpc.BadRequest` detail. */
export interface FieldViolation {
  /** Path of the field, e.g. `messages.role`, `max_tokens`, `task`. */
  field: string;
  /** Why it is invalid. */
  description: string;
}

/**
 * A failed Switchyard call. Every error a `SwitchyardClient` method throws is one,
 * usually of the subclass that matches `reason` (see `errorFromConnect`).
 */
export class SwitchyardError extends Error {
  /** The gRPC status code (Connect's `Code`, e.g. `Code.Unavailable`). */
  readonly code: Code;
  /**
   * `google.rpc.ErrorInfo.reason`, e.g. `ALL_CANDIDATES_FAILED`; undefined when the
   * status had no ErrorInfo (a client-side deadline, a connection failure...).
   */
  readonly reason: string | undefined;
  /** The request id, for `explainFallback({ requestId })`; undefined when none. */
  readonly requestId: string | undefined;
  /** Every step the server took, in order (from `switchyard.v1.FailureDetail`). */
  readonly attempts: Attempt[];
  /** Invalid request fields (from `google.rpc.BadRequest`); empty when none. */
  readonly fieldViolations: FieldViolation[];
  /** `google.rpc.ErrorInfo.metadata`, e.g. `{ request_id, task }`. */
  readonly metadata: Readonly<Record<string, string>>;
  /** The status message without the `[code]` prefix. */
  readonly rawMessage: string;
  /** The underlying Connect error. */
  declare readonly cause: ConnectError;

  constructor(error: ConnectError) {
    super(error.message, { cause: error });
    this.name = new.target.name;
    this.code = error.code;
    this.rawMessage = error.rawMessage;
    const infos = error.findDetails(ErrorInfoSchema);
    const info = infos.find((i) => i.domain === ERROR_DOMAIN) ?? infos[0];
    const failure = error.findDetails(FailureDetailSchema)[0];
    this.reason = info?.reason;
    this.metadata = { ...info?.metadata };
    this.attempts = failure?.attempts ?? [];
    this.requestId = nonEmpty(failure?.requestId) ?? nonEmpty(info?.metadata["request_id"]);
    this.fieldViolations = error
      .findDetails(BadRequestSchema)
      .flatMap((b) => b.fieldViolations)
      .map((v) => ({ field: v.field, description: v.description }));
  }

  /** The attempt trail rendered by `formatTrail`; empty when there is none. */
  formatTrail(): string {
    return formatTrail(this.attempts);
  }
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === "" ? undefined : s;
}

/** Every candidate was tried or skipped and none answered (`UNAVAILABLE`). */
export class AllCandidatesFailedError extends SwitchyardError {}

/** The request does not fit the model's context: shrink it (`OUT_OF_RANGE`). Not retried elsewhere. */
export class ContextOverflowError extends SwitchyardError {}

/** The provider refused the content (`FAILED_PRECONDITION`). Not retried elsewhere. */
export class ContentPolicyError extends SwitchyardError {}

/**
 * The deadline expired (`DEADLINE_EXCEEDED`): either the server found no time for
 * another attempt (`reason` is `DEADLINE_EXHAUSTED`, with the trail), or the
 * client's own deadline fired first (`reason` undefined, no trail).
 */
export class DeadlineError extends SwitchyardError {}

/** A request field is invalid (`INVALID_ARGUMENT`); see `fieldViolations`. */
export class InvalidArgumentError extends SwitchyardError {}

/** The task is neither built in nor defined by the server's config. */
export class UnknownTaskError extends InvalidArgumentError {
  /** The task that was asked for. */
  get task(): string | undefined {
    return this.metadata["task"];
  }
}

/** `explainFallback`: no trail is recorded for that request id (`NOT_FOUND`). */
export class RequestNotFoundError extends SwitchyardError {}

/** An internal failure of the service itself (`INTERNAL`). */
export class InternalError extends SwitchyardError {}

/**
 * The call carried no bearer token, or one the server does not accept (reason and
 * code `UNAUTHENTICATED`). Not retried: fix the token.
 */
export class UnauthenticatedError extends SwitchyardError {}

/**
 * The token is valid but does not allow the call, e.g. an agent token on the admin
 * API (reason and code `PERMISSION_DENIED`).
 */
export class PermissionDeniedError extends SwitchyardError {}

/**
 * A stream (`completeStream`, `auxCompleteStream`) broke off after text had reached
 * the caller (reason `STREAM_INTERRUPTED`, code `ABORTED`). No other candidate was
 * tried: it could not continue the text. The trail's last step is the attempt that
 * broke off, with action `STOP_STREAM`. Retry the whole request, or keep the
 * partial text (`CompletionStream.content`).
 */
export class StreamInterruptedError extends SwitchyardError {
  /** The step whose stream broke off: the last `STOP_STREAM` step of the trail. */
  private get stopped(): Attempt | undefined {
    return [...this.attempts].reverse().find((a) => a.action === Action.STOP_STREAM) ?? this.attempts.at(-1);
  }

  /** The provider that was answering (`ErrorInfo.metadata.provider`, else the trail). */
  get provider(): string | undefined {
    return nonEmpty(this.metadata["provider"]) ?? nonEmpty(this.stopped?.provider);
  }

  /** The model that was answering (`ErrorInfo.metadata.model`, else the trail). */
  get model(): string | undefined {
    return nonEmpty(this.metadata["model"]) ?? nonEmpty(this.stopped?.model);
  }

  /** Index of the answering candidate in the caller's chain (`metadata.candidate_index`, else the trail). */
  get candidateIndex(): number | undefined {
    const raw = this.metadata["candidate_index"];
    const parsed = raw === undefined || !/^\d+$/.test(raw) ? undefined : Number(raw);
    return parsed ?? this.stopped?.candidateIndex;
  }

  /** How the stream failed, e.g. `transport`, `server` (`metadata.error_class`, else the trail). */
  get errorClass(): string | undefined {
    const stopped = this.stopped;
    return nonEmpty(this.metadata["error_class"]) ?? (stopped === undefined ? undefined : errorClassName(stopped.errorClass));
  }
}

type ErrorClassCtor = new (error: ConnectError) => SwitchyardError;

const byReason: Record<string, ErrorClassCtor> = {
  ALL_CANDIDATES_FAILED: AllCandidatesFailedError,
  CONTEXT_OVERFLOW: ContextOverflowError,
  CONTENT_POLICY: ContentPolicyError,
  DEADLINE_EXHAUSTED: DeadlineError,
  UNKNOWN_TASK: UnknownTaskError,
  INVALID_ARGUMENT: InvalidArgumentError,
  REQUEST_NOT_FOUND: RequestNotFoundError,
  INTERNAL: InternalError,
  UNAUTHENTICATED: UnauthenticatedError,
  PERMISSION_DENIED: PermissionDeniedError,
  STREAM_INTERRUPTED: StreamInterruptedError,
};

const byCode: Partial<Record<Code, ErrorClassCtor>> = {
  [Code.DeadlineExceeded]: DeadlineError,
  [Code.InvalidArgument]: InvalidArgumentError,
  [Code.Unauthenticated]: UnauthenticatedError,
  [Code.PermissionDenied]: PermissionDeniedError,
  [Code.Internal]: InternalError,
};

/**
 * Converts any error of a call into a `SwitchyardError` subclass: by the
 * `ErrorInfo.reason` of the Switchyard domain first, then by the status code, else
 * the base class.
 */
export function errorFromConnect(error: unknown): SwitchyardError {
  if (error instanceof SwitchyardError) {
    return error;
  }
  const connect = ConnectError.from(error);
  const info = connect.findDetails(ErrorInfoSchema).find((i) => i.domain === ERROR_DOMAIN);
  const ctor =
    (info !== undefined ? byReason[info.reason] : undefined) ?? byCode[connect.code] ?? SwitchyardError;
  return new ctor(connect);
}
