import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import {
  Action,
  ErrorReason,
  ErrorReasonSchema,
  FailureDetailSchema,
  type Attempt,
} from "./gen/switchyard/v1/switchyard_pb.js";
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
  /**
   * `reason` as the generated `ErrorReason` enum (`ErrorReason.ALL_CANDIDATES_FAILED`...);
   * `ErrorReason.UNSPECIFIED` when there is no reason, or one newer than this build.
   */
  readonly errorReason: ErrorReason;
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
    this.errorReason = errorReasonOf(info?.reason);
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

/**
 * The generated `ErrorReason` of an `ErrorInfo.reason`. The server sends the enum
 * value's name without its `ERROR_REASON_` prefix; the lookup goes through the
 * generated descriptor, so a reason added to the proto reaches this client by
 * regeneration alone. `UNSPECIFIED` when absent or unknown.
 */
export function errorReasonOf(reason: string | undefined): ErrorReason {
  if (reason === undefined || reason === "") {
    return ErrorReason.UNSPECIFIED;
  }
  const value = ErrorReasonSchema.values.find((v) => v.name === `ERROR_REASON_${reason}`);
  return value === undefined ? ErrorReason.UNSPECIFIED : (value.number as ErrorReason);
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

/** `AdminClient`: no credential has that id (`NOT_FOUND`). */
export class CredentialNotFoundError extends SwitchyardError {}

/** `AdminClient.refreshCredential` on a static API key, which has nothing to refresh (`FAILED_PRECONDITION`). */
export class NotRefreshableError extends SwitchyardError {}

/**
 * `AdminClient.refreshCredential`: the token endpoint refused the refresh (`FAILED_PRECONDITION`;
 * the credential is now dead) or failed (`UNAVAILABLE`; try again).
 */
export class RefreshFailedError extends SwitchyardError {}

type ErrorClassCtor = new (error: ConnectError) => SwitchyardError;

/**
 * The subclass of each generated `ErrorReason`. A reason without an entry (one newer
 * than this file) still arrives, as a `SwitchyardError` whose `errorReason` is set.
 */
const byReason: Partial<Record<ErrorReason, ErrorClassCtor>> = {
  [ErrorReason.ALL_CANDIDATES_FAILED]: AllCandidatesFailedError,
  [ErrorReason.CONTEXT_OVERFLOW]: ContextOverflowError,
  [ErrorReason.CONTENT_POLICY]: ContentPolicyError,
  [ErrorReason.DEADLINE_EXHAUSTED]: DeadlineError,
  [ErrorReason.UNKNOWN_TASK]: UnknownTaskError,
  [ErrorReason.INVALID_ARGUMENT]: InvalidArgumentError,
  [ErrorReason.REQUEST_NOT_FOUND]: RequestNotFoundError,
  [ErrorReason.INTERNAL]: InternalError,
  [ErrorReason.UNAUTHENTICATED]: UnauthenticatedError,
  [ErrorReason.PERMISSION_DENIED]: PermissionDeniedError,
  [ErrorReason.CREDENTIAL_NOT_FOUND]: CredentialNotFoundError,
  [ErrorReason.NOT_REFRESHABLE]: NotRefreshableError,
  [ErrorReason.REFRESH_FAILED]: RefreshFailedError,
  [ErrorReason.STREAM_INTERRUPTED]: StreamInterruptedError,
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
    (info !== undefined ? byReason[errorReasonOf(info.reason)] : undefined) ?? byCode[connect.code] ?? SwitchyardError;
  return new ctor(connect);
}
