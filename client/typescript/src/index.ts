// @switchyard/client: the TypeScript client of Switchyard.

export {
  SwitchyardClient,
  type CallOptions,
  type ChatMessage,
  type ChatRole,
  type CompletionOptions,
  type ExplainQuery,
  type Messages,
  type SimulatedOutcomeInput,
  type SimulationInput,
  type SwitchyardClientOptions,
} from "./client.js";
export { CompletionStream, type StreamResponse } from "./stream.js";
export {
  AllCandidatesFailedError,
  ContentPolicyError,
  ContextOverflowError,
  DeadlineError,
  ERROR_DOMAIN,
  InternalError,
  InvalidArgumentError,
  PermissionDeniedError,
  RequestNotFoundError,
  StreamInterruptedError,
  SwitchyardError,
  UnauthenticatedError,
  UnknownTaskError,
  errorFromConnect,
  type FieldViolation,
} from "./errors.js";
export { actionName, errorClassName, formatTrail } from "./trail.js";
export { BadRequestSchema, ErrorInfoSchema, type BadRequest, type ErrorInfo } from "./rpc.js";
export { Code } from "@connectrpc/connect";
// The generated messages, enums and service descriptor of switchyard.v1.
export * from "./gen/switchyard/v1/switchyard_pb.js";
