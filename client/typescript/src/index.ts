// @switchyard/client: the TypeScript client of Switchyard.

export {
  SwitchyardClient,
  type CallOptions,
  type ChatMessage,
  type ChatOptionsInput,
  type ChatRole,
  type CompletionOptions,
  type ContentPartInput,
  type ExplainQuery,
  type Messages,
  type ResponseFormatInput,
  type ToolCallInput,
  type ToolChoiceInput,
  type ToolInput,
  type SimulatedOutcomeInput,
  type SimulationInput,
  type SwitchyardClientOptions,
} from "./client.js";
export { CompletionStream, type StreamResponse } from "./stream.js";
export { AdminClient, type AdminClientOptions, type OAuthTokensInput, type PutOptions } from "./admin.js";
export {
  AllCandidatesFailedError,
  ContentPolicyError,
  ContextOverflowError,
  CredentialNotFoundError,
  DeadlineError,
  ERROR_DOMAIN,
  InternalError,
  InvalidArgumentError,
  NotRefreshableError,
  PermissionDeniedError,
  RefreshFailedError,
  RequestNotFoundError,
  StreamInterruptedError,
  SwitchyardError,
  UnauthenticatedError,
  UnknownTaskError,
  errorFromConnect,
  errorReasonOf,
  type FieldViolation,
} from "./errors.js";
export { actionName, errorClassName, formatTrail } from "./trail.js";
// The google.rpc error details, generated from a vendored google/rpc/error_details.proto.
export {
  BadRequestSchema,
  ErrorInfoSchema,
  type BadRequest,
  type BadRequest_FieldViolation,
  type ErrorInfo,
} from "./gen/google/rpc/error_details_pb.js";
export { Code } from "@connectrpc/connect";
// The generated messages, enums and service descriptor of switchyard.v1.
export * from "./gen/switchyard/v1/switchyard_pb.js";
