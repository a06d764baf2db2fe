// The whole chat through the compiled client against the real server: a tool loop
// after a failover, tool calls streamed as pieces, images and structured output
// reaching the provider as sent.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type ChatMessage, SwitchyardClient, type ToolCallDelta, type ToolInput } from "@switchyard/client";
import { CLIENT_TOKEN, Harness, sseEvent, TOKEN_INVALIDATED } from "./harness.js";

const weather: ToolInput = {
  name: "get_weather",
  description: "Weather of a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

const TOOL_CALLS = JSON.stringify({
  id: "x",
  object: "chat.completion",
  model: "cheap-model",
  choices: [
    {
      index: 0,
      finish_reason: "tool_calls",
      message: {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "call_w", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
      },
    },
  ],
  usage: { prompt_tokens: 20, completion_tokens: 9 },
});

describe("the whole chat", () => {
  let h: Harness;
  let client: SwitchyardClient;
  before(async () => {
    h = await Harness.start();
    client = new SwitchyardClient({ baseUrl: h.baseUrl, token: CLIENT_TOKEN });
  });
  after(async () => {
    client.close();
    await h.stop();
  });

  test("a tool loop survives a dead token", async () => {
    h.fakes.push("codex", { status: 401, body: TOKEN_INVALIDATED });
    h.fakes.push("cheap", { status: 200, body: TOOL_CALLS });
    const conversation: ChatMessage[] = [
      { role: "system", content: "Use the tools." },
      { role: "user", content: "Weather in Paris?" },
    ];
    const opts = { tools: [weather], toolChoice: "auto" as const };
    const answer = await client.auxComplete("compression", conversation, opts);
    assert.equal(answer.finishReason, "tool_calls");
    assert.deepEqual(
      answer.toolCalls.map((c) => [c.id, c.name, c.arguments]),
      [["call_w", "get_weather", '{"city":"Paris"}']],
    );
    assert.equal(answer.servedBy?.provider, "cheap");
    const sent = h.fakes.calls.filter((c) => c.provider === "cheap")[0]!.body;
    assert.deepEqual(sent.tools, [{ type: "function", function: weather }]);
    assert.equal(sent.tool_choice, "auto");

    conversation.push({ role: "assistant", toolCalls: answer.toolCalls });
    conversation.push({ role: "tool", toolCallId: "call_w", content: "18C" });
    const last = await client.auxComplete("compression", conversation, opts);
    assert.equal(last.content, "answer from cheap");
    assert.equal(last.finishReason, "stop");
    const second = h.fakes.calls.filter((c) => c.provider === "cheap")[1]!.body;
    const messages = second.messages as Record<string, unknown>[];
    assert.deepEqual(messages[3], { role: "tool", content: "18C", tool_call_id: "call_w" });
    assert.equal((messages[2]!.tool_calls as { id: string }[])[0]!.id, "call_w");
    assert.equal(h.fakes.count("codex"), 1, "the dead token was not tried again");
  });

  test("streamed tool calls arrive as pieces, then assembled", async () => {
    const chunk = (delta: object, finish: string | null = null) =>
      sseEvent({ id: "x", object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] });
    const sse =
      chunk({
        role: "assistant",
        tool_calls: [{ index: 0, id: "call_w", type: "function", function: { name: "get_weather", arguments: "" } }],
      }) +
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }) +
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }) +
      chunk({}, "tool_calls") +
      sseEvent("[DONE]");
    h.fakes.push("main", { status: 200, sse });
    const stream = await client.completeStream("Weather in Paris?", { tools: [weather] });
    const deltas: ToolCallDelta[] = [];
    for await (const piece of stream.pieces()) {
      assert.ok(typeof piece !== "string", `text ${String(piece)} where only a tool call was sent`);
      deltas.push(piece);
    }
    assert.ok(deltas.length >= 2, `${deltas.length} pieces`);
    assert.equal(deltas[0]!.id, "call_w");
    assert.equal(deltas[0]!.name, "get_weather");
    assert.equal(deltas.map((d) => d.arguments).join(""), '{"city":"Paris"}');
    assert.deepEqual(
      stream.toolCalls.map((c) => [c.id, c.arguments]),
      [["call_w", '{"city":"Paris"}']],
    );
    assert.equal(stream.finished?.finishReason, "tool_calls");
  });

  test("images and a JSON schema reach the provider as sent", async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const before = h.fakes.count("main");
    await client.complete(
      [
        {
          role: "user",
          content: ["Describe it.", { imageData: png, mediaType: "image/png" }, { imageUrl: "https://images.test/cat.png" }],
        },
      ],
      {
        responseFormat: { type: "json_schema", name: "desc", schema: { type: "object", required: ["text"] }, strict: true },
        seed: 4,
        stop: "\n\n",
        reasoningEffort: "low",
      },
    );
    const sent = h.fakes.calls.filter((c) => c.provider === "main")[before]!.body;
    assert.deepEqual((sent.messages as { content: unknown }[])[0]!.content, [
      { type: "text", text: "Describe it." },
      { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
      { type: "image_url", image_url: { url: "https://images.test/cat.png" } },
    ]);
    assert.deepEqual(sent.response_format, {
      type: "json_schema",
      json_schema: { name: "desc", schema: { type: "object", required: ["text"] }, strict: true },
    });
    assert.equal(sent.seed, 4);
    assert.deepEqual(sent.stop, ["\n\n"]);
    assert.equal(sent.reasoning_effort, "low");
  });
});
