// The whole chat a call carries, as plain objects: messages with text, images,
// tool calls and tool results, and the chat options (tools, tool choice,
// structured output, sampling). Converted here to the generated messages.

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  type ChatOptionsSchema,
  type ContentPartSchema,
  ImageDetail,
  type Message,
  MessageSchema,
  ReasoningEffort,
  ResponseFormatKind,
  Role,
  type ToolCall,
  ToolChoiceMode,
} from "./gen/switchyard/v1/switchyard_pb.js";

/** Who wrote a chat message. */
export type ChatRole = "system" | "developer" | "user" | "assistant" | "tool";

/**
 * One ordered piece of a message's content: text, or an image by https URL or
 * inline bytes with their media type.
 */
export type ContentPartInput =
  | string
  | { text: string }
  | { imageUrl: string; detail?: "auto" | "low" | "high" }
  | { imageData: Uint8Array; mediaType: string; detail?: "auto" | "low" | "high" };

/** A tool call: one of an answer's `toolCalls` as it is, or its three fields. */
export type ToolCallInput = ToolCall | { id: string; name: string; arguments: string };

/**
 * One chat message; `role` is a name or the generated `Role` enum. `content` is a
 * string or ordered parts; an assistant message may carry `toolCalls`, a tool
 * message the `toolCallId` it answers.
 */
export interface ChatMessage {
  role: ChatRole | Role;
  content?: string | readonly ContentPartInput[];
  toolCalls?: readonly ToolCallInput[];
  toolCallId?: string;
}

/** The messages of a call: a list, or one string as a single user message. */
export type Messages = string | readonly ChatMessage[];

/** A function the model may call. `parameters` is its JSON Schema (an object, or its JSON text). */
export interface ToolInput {
  name: string;
  description?: string;
  parameters?: object | string;
  strict?: boolean;
}

/** Which tool the model may or must call. */
export type ToolChoiceInput = "auto" | "none" | "required" | { name: string };

/** The shape of the answer: free text, any JSON object, or JSON following a schema. */
export type ResponseFormatInput =
  | { type: "text" }
  | { type: "json_object" }
  | { type: "json_schema"; name: string; schema: object | string; strict?: boolean; description?: string };

/** The chat options of `complete`, `auxComplete` and their streams. */
export interface ChatOptionsInput {
  /** Functions the model may call. */
  tools?: readonly ToolInput[];
  /** Which tool the model may or must call. */
  toolChoice?: ToolChoiceInput;
  /** Whether the model may make several tool calls in one answer. */
  parallelToolCalls?: boolean;
  /** Structured output. */
  responseFormat?: ResponseFormatInput;
  /** Stop sequences. */
  stop?: string | readonly string[];
  /** Nucleus sampling in (0, 1]. */
  topP?: number;
  /** Sampling seed, where the provider accepts one. */
  seed?: number | bigint;
  /** Reasoning effort, for reasoning models. */
  reasoningEffort?: "minimal" | "low" | "medium" | "high";
  /** Opaque key-value pairs passed through where the provider accepts them. */
  metadata?: Record<string, string>;
  /** An opaque end-user id passed through where the provider accepts it. */
  user?: string;
}

const roles: Record<ChatRole, Role> = {
  system: Role.SYSTEM,
  developer: Role.DEVELOPER,
  user: Role.USER,
  assistant: Role.ASSISTANT,
  tool: Role.TOOL,
};

const details = { auto: ImageDetail.AUTO, low: ImageDetail.LOW, high: ImageDetail.HIGH };

const efforts = {
  minimal: ReasoningEffort.MINIMAL,
  low: ReasoningEffort.LOW,
  medium: ReasoningEffort.MEDIUM,
  high: ReasoningEffort.HIGH,
};

function json(value: object | string): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function toPart(p: ContentPartInput): MessageInitShape<typeof ContentPartSchema> {
  if (typeof p === "string") return { part: { case: "text", value: p } };
  if ("text" in p) return { part: { case: "text", value: p.text } };
  const detail = p.detail === undefined ? ImageDetail.UNSPECIFIED : details[p.detail];
  if ("imageUrl" in p) return { part: { case: "image", value: { source: { case: "url", value: p.imageUrl }, detail } } };
  return {
    part: { case: "image", value: { source: { case: "data", value: { mediaType: p.mediaType, data: p.imageData } }, detail } },
  };
}

/** The generated messages of a call. */
export function toMessages(messages: Messages): Message[] {
  const list: readonly ChatMessage[] =
    typeof messages === "string" ? [{ role: "user", content: messages }] : messages;
  return list.map((m) =>
    create(MessageSchema, {
      // An unknown role name is sent as ROLE_UNSPECIFIED, which the server rejects
      // with a field violation, rather than guessed here.
      role: typeof m.role === "number" ? m.role : (roles[m.role] ?? Role.UNSPECIFIED),
      content: typeof m.content === "string" ? m.content : "",
      parts: typeof m.content === "string" || m.content === undefined ? [] : m.content.map(toPart),
      toolCalls: (m.toolCalls ?? []).map((c) => ({ id: c.id, name: c.name, arguments: c.arguments })),
      toolCallId: m.toolCallId,
    }),
  );
}

/** The generated chat options, or undefined when none is set (nothing is sent). */
export function toChatOptions(o: ChatOptionsInput): MessageInitShape<typeof ChatOptionsSchema> | undefined {
  const set = Object.values(o).some((v) => v !== undefined);
  if (!set) return undefined;
  const choice = o.toolChoice;
  const format = o.responseFormat;
  return {
    tools: (o.tools ?? []).map((t) => ({
      name: t.name,
      description: t.description,
      parameters: t.parameters === undefined ? "" : json(t.parameters),
      strict: t.strict,
    })),
    toolChoice:
      choice === undefined
        ? undefined
        : typeof choice === "string"
          ? {
              choice: {
                case: "mode",
                value: { auto: ToolChoiceMode.AUTO, none: ToolChoiceMode.NONE, required: ToolChoiceMode.REQUIRED }[choice],
              },
            }
          : { choice: { case: "function", value: choice.name } },
    parallelToolCalls: o.parallelToolCalls,
    responseFormat:
      format === undefined
        ? undefined
        : format.type === "json_schema"
          ? {
              kind: ResponseFormatKind.JSON_SCHEMA,
              jsonSchema: {
                name: format.name,
                schema: json(format.schema),
                strict: format.strict,
                description: format.description,
              },
            }
          : { kind: format.type === "text" ? ResponseFormatKind.TEXT : ResponseFormatKind.JSON_OBJECT },
    stop: typeof o.stop === "string" ? [o.stop] : [...(o.stop ?? [])],
    topP: o.topP,
    seed: o.seed === undefined ? undefined : BigInt(o.seed),
    reasoningEffort: o.reasoningEffort === undefined ? ReasoningEffort.UNSPECIFIED : efforts[o.reasoningEffort],
    metadata: o.metadata ?? {},
    user: o.user,
  };
}
