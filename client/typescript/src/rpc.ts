// The two google.rpc error detail messages the server sends (ErrorInfo, BadRequest),
// described by hand so that `ConnectError.findDetails()` can decode them.
//
// Why by hand: no package on the npm registry ships google/rpc/error_details.proto
// for protobuf-es v2, and proto/ holds only the Switchyard API. The descriptor
// below is the subset of google/rpc/error_details.proto the client reads, with the
// same package, names and field numbers, so the wire format is the upstream one.
// Fields not described here (e.g. FieldViolation.localized_message) are kept as
// unknown fields and ignored.

import { create, createFileRegistry, type Message } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";

/** `google.rpc.ErrorInfo`: why a call failed, as a machine-readable reason. */
export type ErrorInfo = Message<"google.rpc.ErrorInfo"> & {
  /** The reason, e.g. `ALL_CANDIDATES_FAILED` (an `ErrorReason` name without its prefix). */
  reason: string;
  /** The domain of the reason: `switchyard.dev`. */
  domain: string;
  /** Extra facts, e.g. `request_id`, `task`. */
  metadata: { [key: string]: string };
};

/** `google.rpc.BadRequest.FieldViolation`: one invalid request field. */
export type FieldViolationMessage = Message<"google.rpc.BadRequest.FieldViolation"> & {
  /** Path of the field, e.g. `messages.role`. */
  field: string;
  /** Why it is invalid. */
  description: string;
  /** Optional machine-readable reason. */
  reason: string;
};

/** `google.rpc.BadRequest`: the invalid fields of a request. */
export type BadRequest = Message<"google.rpc.BadRequest"> & {
  fieldViolations: FieldViolationMessage[];
};

const string = (name: string, number: number, jsonName: string) => ({
  name,
  number,
  jsonName,
  label: Label.OPTIONAL,
  type: Type.STRING,
});

const registry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "google/rpc/error_details.proto",
    package: "google.rpc",
    syntax: "proto3",
    messageType: [
      {
        name: "ErrorInfo",
        field: [
          string("reason", 1, "reason"),
          string("domain", 2, "domain"),
          {
            name: "metadata",
            number: 3,
            jsonName: "metadata",
            label: Label.REPEATED,
            type: Type.MESSAGE,
            typeName: ".google.rpc.ErrorInfo.MetadataEntry",
          },
        ],
        nestedType: [
          {
            name: "MetadataEntry",
            field: [string("key", 1, "key"), string("value", 2, "value")],
            options: { mapEntry: true },
          },
        ],
      },
      {
        name: "BadRequest",
        field: [
          {
            name: "field_violations",
            number: 1,
            jsonName: "fieldViolations",
            label: Label.REPEATED,
            type: Type.MESSAGE,
            typeName: ".google.rpc.BadRequest.FieldViolation",
          },
        ],
        nestedType: [
          {
            name: "FieldViolation",
            field: [
              string("field", 1, "field"),
              string("description", 2, "description"),
              string("reason", 3, "reason"),
            ],
          },
        ],
      },
    ],
  }),
  () => undefined,
);

function message<T extends Message>(typeName: string): GenMessage<T> {
  const desc = registry.getMessage(typeName);
  if (desc === undefined) {
    throw new Error(`internal: ${typeName} missing from the google.rpc descriptor`);
  }
  return desc as GenMessage<T>;
}

/** Schema of `google.rpc.ErrorInfo`, for `ConnectError.findDetails()`. */
export const ErrorInfoSchema: GenMessage<ErrorInfo> = message("google.rpc.ErrorInfo");

/** Schema of `google.rpc.BadRequest`, for `ConnectError.findDetails()`. */
export const BadRequestSchema: GenMessage<BadRequest> = message("google.rpc.BadRequest");
