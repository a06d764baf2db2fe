import { Action, ErrorClass, type Attempt } from "./gen/switchyard/v1/switchyard_pb.js";

/** `AUTH_TERMINAL` -> `auth_terminal`; an unknown number stays a number. */
function enumName(names: Record<number, string>, value: number): string {
  const name = names[value];
  return name === undefined ? String(value) : name.toLowerCase();
}

/** The error class of a step in lower case, e.g. `auth_terminal`. */
export function errorClassName(value: ErrorClass): string {
  return enumName(ErrorClass, value);
}

/** The action of a step in lower case, e.g. `next_candidate`. */
export function actionName(value: Action): string {
  return enumName(Action, value);
}

/**
 * Renders an attempt trail for a human, one line per step, in the same format as
 * the Rust client and `switchyard demo`:
 *
 *     #0 codex/codex-mini [codex-key] auth_terminal 401 -> next_candidate: ...
 *     #1 cheap/cheap-model [cheap-key] -> succeed: ...
 *
 * Each line starts with two spaces and ends with a newline. The credential, the
 * error class (when not `none`) and the HTTP status (when not 0) are left out when
 * absent. Never contains a secret: the server's reasons never do.
 */
export function formatTrail(attempts: readonly Attempt[]): string {
  return attempts
    .map((a, i) => {
      const target = a.provider === "" ? "-" : `${a.provider}/${a.model}`;
      const credential = a.credentialId === "" ? "" : ` [${a.credentialId}]`;
      const klass = errorClassName(a.errorClass);
      const shownClass = klass === "none" ? "" : ` ${klass}`;
      const status = a.httpStatus === 0 ? "" : ` ${a.httpStatus}`;
      return `  #${i} ${target}${credential}${shownClass}${status} -> ${actionName(a.action)}: ${a.reason}\n`;
    })
    .join("");
}
