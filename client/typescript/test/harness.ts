// Test harness: OpenAI-compatible fake providers on node:http, and the real
// `switchyard` binary started on 127.0.0.1:0 with a fresh SQLite file.

import { spawn, execFile, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/** Root of the repository: build/test/ -> client/typescript/ -> repo. */
const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));

/** The server binary: $SWITCHYARD_BIN, else ${CARGO_TARGET_DIR:-<repo>/target}/debug/switchyard. */
export function switchyardBin(): string {
  const explicit = process.env["SWITCHYARD_BIN"];
  const path =
    explicit !== undefined && explicit !== ""
      ? explicit
      : join(process.env["CARGO_TARGET_DIR"] || join(repoRoot, "target"), "debug", "switchyard");
  if (!existsSync(path)) {
    throw new Error(
      `switchyard binary not found at ${path}: build it with ` +
        "`CARGO_TARGET_DIR=... cargo build -p switchyard` and set SWITCHYARD_BIN to its path",
    );
  }
  return path;
}

export const TOKEN_INVALIDATED = JSON.stringify({
  error: {
    message: "Your authentication token has been invalidated.",
    type: "invalid_request_error",
    code: "token_invalidated",
  },
});

export const BAD_REQUEST = JSON.stringify({ error: { message: "bad", type: "invalid_request_error" } });

/**
 * The caller token of the test server: its SHA-256 is in `auth.client_token_sha256`,
 * and the suites' clients send it by default.
 */
export const CLIENT_TOKEN = "sy_test-client-token";
/** An operator token (`auth.admin_token_sha256`); agent calls accept it too. */
export const ADMIN_TOKEN = "sy_test-admin-token";

/** What the config lists for a token: its SHA-256, lowercase hex. */
export function tokenSha256(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** One scripted answer of a fake provider. */
export interface Reply {
  status: number;
  /**
   * Raw body, sent as JSON whether or not the call asked for a stream; absent for
   * a success, which gets a chat completion, or a stream of chunks when the call
   * asked for one (`stream: true`).
   */
  body?: string;
  /** The text of a success: `answer from <name>` when absent. Streamed as one piece. */
  content?: string;
  /** Streamed answer, for a call with `stream: true` (ignored otherwise). */
  stream?: StreamScript;
  /** Answer (send the headers) after this many milliseconds. */
  delayMs?: number;
  /** A whole event stream, sent as it is (`text/event-stream`). */
  sse?: string;
}

/** How a streamed success goes: a role chunk, the pieces, then the end. */
export interface StreamScript {
  /** Text pieces, one `chat.completion.chunk` event each, in order. */
  pieces: string[];
  /**
   * How the stream ends once the pieces are sent:
   * - `done` (default): the finish reason, the usage chunk, `data: [DONE]`;
   * - `drop`: the connection is destroyed without a finish reason or `[DONE]`
   *   (a truncated stream);
   * - `{ error }`: an SSE `data: {"error": ...}` event, then the end of the response.
   */
  end?: "done" | "drop" | { error: object };
  /** Pause before each event after the role chunk, in milliseconds (default 0). */
  intervalMs?: number;
  /** Finish reason of a `done` end; `stop` when absent. */
  finishReason?: string;
}

/** One call a fake provider received. */
export interface Call {
  provider: string;
  authorization: string | undefined;
  body: {
    model?: string;
    messages?: unknown[];
    max_tokens?: number;
    temperature?: number;
    stream?: boolean;
    stream_options?: { include_usage?: boolean };
    [field: string]: unknown;
  };
  /**
   * Whether the response ended before the fake finished writing it: the caller
   * (the server) went away, or the fake dropped the connection on purpose.
   */
  cutShort: boolean;
}

/** `data: <json>` and a blank line: one server-sent event. */
export function sseEvent(data: unknown): string {
  return `data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;
}

/** An OpenAI `chat.completion.chunk` with one choice. */
function chunk(model: string | undefined, delta: object, finishReason: string | null = null): object {
  return {
    id: "x",
    object: "chat.completion.chunk",
    model,
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  };
}

/**
 * OpenAI-compatible fake providers on one node:http server: `/<name>/v1/chat/completions`.
 * Each provider answers from its script, in order, then succeeds with
 * `answer from <name>`. Every call is recorded.
 */
export class FakeProviders {
  readonly calls: Call[] = [];
  private readonly scripts = new Map<string, Reply[]>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<FakeProviders> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const fakes = new FakeProviders(server, (server.address() as AddressInfo).port);
    server.on("request", (req, res) => fakes.handle(req, res));
    return fakes;
  }

  baseUrl(name: string): string {
    return `http://127.0.0.1:${this.port}/${name}/v1`;
  }

  /** Appends replies to the script of `name`. */
  push(name: string, ...replies: Reply[]): void {
    const script = this.scripts.get(name) ?? [];
    script.push(...replies);
    this.scripts.set(name, script);
  }

  /** How many calls `name` received. */
  count(name: string): number {
    return this.calls.filter((c) => c.provider === name).length;
  }

  /** Calls per provider, e.g. `{ main: 1, codex: 0, cheap: 1 }`. */
  counts(...names: string[]): Record<string, number> {
    return Object.fromEntries(names.map((n) => [n, this.count(n)]));
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const match = /^\/([^/]+)\/v1\/chat\/completions$/.exec(req.url ?? "");
      if (req.method !== "POST" || match === null) {
        res.writeHead(404, { "content-type": "application/json" }).end('{"error":{"message":"no route"}}');
        return;
      }
      const provider = match[1]!;
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Call["body"];
      const call: Call = { provider, authorization: req.headers.authorization, body, cutShort: false };
      this.calls.push(call);
      const reply = this.scripts.get(provider)?.shift() ?? { status: 200 };
      const content = reply.content ?? `answer from ${provider}`;
      res.once("close", () => {
        if (!res.writableFinished) call.cutShort = true;
      });
      const send = () => {
        if (res.destroyed) {
          return;
        }
        if (reply.sse !== undefined) {
          res.writeHead(reply.status, { "content-type": "text/event-stream" }).end(reply.sse);
          return;
        }
        if (body.stream === true && reply.body === undefined && reply.status >= 200 && reply.status < 300) {
          this.stream(res, call, reply, reply.stream ?? { pieces: [content] });
          return;
        }
        const text =
          reply.body ??
          JSON.stringify({
            id: "x",
            object: "chat.completion",
            model: body.model,
            choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
            usage: { prompt_tokens: 3, completion_tokens: 2 },
          });
        res.writeHead(reply.status, { "content-type": "application/json" }).end(text);
      };
      this.after(reply.delayMs ?? 0, send);
    });
  }

  /** Runs `f` after `ms` milliseconds (at once for 0); `stop()` cancels it. */
  private after(ms: number, f: () => void): void {
    if (ms <= 0) {
      f();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      f();
    }, ms);
    this.timers.add(timer);
  }

  /** Writes a streamed answer as OpenAI server-sent events, as `script` says. */
  private stream(res: ServerResponse, call: Call, reply: Reply, script: StreamScript): void {
    const model = call.body.model;
    res.writeHead(reply.status, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.write(sseEvent(chunk(model, { role: "assistant", content: "" })));
    const end = script.end ?? "done";
    const events: (() => void)[] = script.pieces.map((piece) => () => {
      res.write(sseEvent(chunk(model, { content: piece })));
    });
    if (end === "done") {
      events.push(() => {
        res.write(sseEvent(chunk(model, {}, script.finishReason ?? "stop")));
        const usage = { prompt_tokens: 12, completion_tokens: script.pieces.length, total_tokens: 12 + script.pieces.length };
        res.write(sseEvent({ id: "x", object: "chat.completion.chunk", model, choices: [], usage }));
        res.end(sseEvent("[DONE]"));
      });
    } else if (end === "drop") {
      // A short pause first, so that the pieces reach the server before the reset.
      events.push(() =>
        this.after(50, () => {
          call.cutShort = true;
          res.socket?.destroy();
        }),
      );
    } else {
      events.push(() => res.end(sseEvent(end)));
    }
    const next = (i: number) => {
      if (i >= events.length || res.destroyed) return;
      events[i]!();
      this.after(script.intervalMs ?? 0, () => next(i + 1));
    };
    this.after(script.intervalMs ?? 0, () => next(0));
  }
}

/** The providers of the test topology, and the credential each one gets. */
export const PROVIDERS = ["main", "codex", "cheap"] as const;

function config(fakes: FakeProviders, db: string, openai: boolean): string {
  return `listen: 127.0.0.1:0
database: { path: ${JSON.stringify(db)} }
providers:
  main:  { kind: openai, base_url: "${fakes.baseUrl("main")}", timeout: 5s }
  codex: { kind: openai, base_url: "${fakes.baseUrl("codex")}", timeout: 5s }
  cheap: { kind: openai, base_url: "${fakes.baseUrl("cheap")}", timeout: 5s }
model: { provider: main, model: main-model, timeout: 20s }
auxiliary:
  compression:
    provider: codex
    model: codex-mini
    fallback_chain: [ { provider: cheap, model: cheap-model } ]
policy: { backoff_base: 5ms, backoff_max: 20ms, min_attempt: 50ms }
auth:
  client_token_sha256: [ "${tokenSha256(CLIENT_TOKEN)}" ]
  admin_token_sha256: [ "${tokenSha256(ADMIN_TOKEN)}" ]
${openai ? "openai_listen: 127.0.0.1:0\n" : ""}`;
}

/** Options of {@link Harness.start}. */
export interface HarnessOptions {
  /** Also serve the OpenAI-compatible HTTP doors (`openai_listen`); see `Harness.openaiBaseUrl`. */
  openai?: boolean;
}

/** A running `switchyard serve` and its fake providers. */
export class Harness {
  private constructor(
    readonly fakes: FakeProviders,
    readonly baseUrl: string,
    /** Base URL of the OpenAI-compatible doors (`http://addr/v1`), when started with them. */
    readonly openaiBaseUrl: string | undefined,
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly stderr: string[],
  ) {}

  /**
   * Starts the fakes, adds one credential per provider (`<name>-key`, secret
   * `secret-of-<name>-key`, passed to the CLI in its environment only), and
   * starts the server, waiting for its `switchyard listening on` line. Caller auth
   * is on: every call needs `CLIENT_TOKEN` (or `ADMIN_TOKEN`).
   */
  static async start(options: HarnessOptions = {}): Promise<Harness> {
    const openai = options.openai === true;
    const bin = switchyardBin();
    const fakes = await FakeProviders.start();
    const dir = await mkdtemp(join(tmpdir(), "switchyard-ts-"));
    try {
      const file = join(dir, "switchyard.yaml");
      await writeFile(file, config(fakes, join(dir, "switchyard.db"), openai));
      for (const provider of PROVIDERS) {
        const id = `${provider}-key`;
        await promisify(execFile)(
          bin,
          ["--config", file, "credentials", "add", "--provider", provider, "--id", id, "--api-key-env", "SWITCHYARD_TEST_KEY"],
          { env: { ...process.env, SWITCHYARD_TEST_KEY: `secret-of-${id}` } },
        );
      }
      const child = spawn(bin, ["--config", file, "serve"], { stdio: ["ignore", "pipe", "pipe"] });
      const stderr: string[] = [];
      child.stderr!.setEncoding("utf8").on("data", (s: string) => stderr.push(s));
      // `switchyard listening on <addr>`, then (with the doors) `switchyard openai api on <url>`.
      const [addr, openaiUrl] = await new Promise<[string, string | undefined]>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`switchyard did not start in 20 s:\n${stderr.join("")}`)), 20_000);
        const lines = createInterface({ input: child.stdout! });
        let grpc: string | undefined;
        const onLine = (line: string) => {
          const m = grpc === undefined ? /^switchyard listening on (\S+)$/.exec(line) : /^switchyard openai api on (\S+)$/.exec(line);
          if (!m) {
            clearTimeout(timer);
            lines.off("line", onLine);
            reject(new Error(`unexpected stdout line: ${line}`));
          } else if (grpc === undefined && openai) {
            grpc = m[1]!;
          } else {
            clearTimeout(timer);
            lines.off("line", onLine);
            resolve(grpc === undefined ? [m[1]!, undefined] : [grpc, m[1]!]);
          }
        };
        lines.on("line", onLine);
        child.once("exit", (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`switchyard exited (${code ?? signal}) before listening:\n${stderr.join("")}`));
        });
      });
      return new Harness(fakes, `http://${addr}`, openaiUrl, child, dir, stderr);
    } catch (e) {
      await fakes.stop();
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** The server's log so far, for failure messages. */
  log(): string {
    return this.stderr.join("");
  }

  /** Stops the server with SIGTERM, then the fakes, and removes the temp dir. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
      this.child.kill("SIGTERM");
      const timeout = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timeout);
    }
    await this.fakes.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
