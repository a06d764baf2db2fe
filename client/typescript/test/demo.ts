// The README's examples, run against `switchyard demo` as a newcomer would run them.
//
// `Demo.start()` runs `$SWITCHYARD_BIN demo --keep-running --listen 127.0.0.1:0` and
// waits for its "keeps running on <addr>" line (the demo's own calls are over by
// then, so codex's key is dead and cheap's is cooling, as the README says).
// `readmeExamples()` pairs every ```ts block of README.md that talks to
// 127.0.0.1:50051 with the ```text block that follows it: the output it prints.

import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { switchyardBin } from "./harness.js";

/** The address every README example dials; tests swap in the demo's. */
export const README_ADDR = "127.0.0.1:50051";

/** One README example: its code and the output shown under it. */
export interface ReadmeExample {
  code: string;
  output: string;
  line: number;
}

/** The examples of client/typescript/README.md (build/test/ -> ../../README.md). */
export function readmeExamples(): ReadmeExample[] {
  const text = readFileSync(fileURLToPath(new URL("../../README.md", import.meta.url)), "utf8");
  const blocks = [...text.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({
    lang: m[1]!,
    body: m[2]!,
    line: text.slice(0, m.index).split("\n").length,
  }));
  const examples: ReadmeExample[] = [];
  blocks.forEach((b, i) => {
    const next = blocks[i + 1];
    if (b.lang === "ts" && b.body.includes(README_ADDR) && next?.lang === "text") {
      examples.push({ code: b.body, output: next.body, line: b.line });
    }
  });
  return examples;
}

/** A running `switchyard demo --keep-running`. */
export class Demo {
  private constructor(
    readonly addr: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(): Promise<Demo> {
    const child = spawn(switchyardBin(), ["demo", "--keep-running", "--listen", "127.0.0.1:0"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const stderr: string[] = [];
    child.stderr!.setEncoding("utf8").on("data", (s: string) => stderr.push(s));
    const addr = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the demo did not start in 30 s:\n${stderr.join("")}`)), 30_000);
      createInterface({ input: child.stdout! }).on("line", (line) => {
        const m = /^The demo server keeps running on (\S+) /.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the demo exited (${code ?? signal}):\n${stderr.join("")}`));
      });
    });
    return new Demo(addr, child);
  }

  /** Stops the demo with SIGTERM (its Ctrl-C). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGTERM");
    const timeout = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timeout);
  }
}
