// The official `openai` npm SDK against the real server's Responses door
// (`POST /v1/responses`), streamed: its stream helper assembles the typed events
// Switchyard sends once a candidate answered, after a refused first candidate.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";
import { CLIENT_TOKEN, Harness, TOKEN_INVALIDATED } from "./harness.js";

describe("the openai SDK on /v1/responses", () => {
  let h: Harness;
  let client: OpenAI;
  before(async () => {
    h = await Harness.start({ openai: true });
    assert.ok(h.openaiBaseUrl?.endsWith("/v1"), h.openaiBaseUrl);
    // The one-line change: the base URL (and the agent token as the key).
    client = new OpenAI({ baseURL: h.openaiBaseUrl, apiKey: CLIENT_TOKEN });
  });
  after(async () => {
    await h?.stop();
  });

  test("responses.stream of an aux task: 401 on codex falls to the chain before any event", async () => {
    h.fakes.push("codex", { status: 401, body: TOKEN_INVALIDATED });
    h.fakes.push("cheap", { status: 200, stream: { pieces: ["Hello ", "from ", "cheap"] } });
    const stream = client.responses.stream(
      { model: "codex-mini", input: "compress this" },
      { headers: { "X-Switchyard-Task": "compression" } },
    );
    const kinds: string[] = [];
    const deltas: string[] = [];
    for await (const event of stream) {
      kinds.push(event.type);
      if (event.type === "response.output_text.delta") deltas.push(event.delta);
    }
    const final = await stream.finalResponse();
    assert.deepEqual(deltas, ["Hello ", "from ", "cheap"]);
    assert.equal(final.output_text, "Hello from cheap");
    assert.equal(final.status, "completed");
    assert.equal(kinds[0], "response.created");
    assert.equal(kinds.at(-1), "response.completed");
    assert.ok(kinds.includes("response.output_item.added"));
    assert.ok(kinds.includes("response.content_part.added"));
    // The caller's model overrode the task's first candidate, which was refused once.
    const codex = h.fakes.calls.filter((c) => c.provider === "codex");
    assert.equal(codex.length, 1);
    assert.equal(codex[0]!.body.model, "codex-mini");
    const cheap = h.fakes.calls.filter((c) => c.provider === "cheap");
    assert.equal(cheap.at(-1)!.body.model, "cheap-model");
    assert.equal(cheap.at(-1)!.body.stream, true);
  });

  test("responses.create for the primary caller", async () => {
    const r = await client.responses.create({
      model: "switchyard/primary",
      instructions: "Be brief.",
      input: "hello",
    });
    assert.equal(r.output_text, "answer from main");
    const call = h.fakes.calls.at(-1)!;
    assert.equal(call.provider, "main");
    assert.deepEqual(call.body.messages, [
      { role: "system", content: "Be brief." },
      { role: "user", content: "hello" },
    ]);
  });
});
