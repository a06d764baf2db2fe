// The README's examples, run verbatim (but for the address) against `switchyard demo`:
// each must print exactly the output the README shows under it.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { Demo, README_ADDR, readmeExamples } from "./demo.js";

describe("README examples against `switchyard demo`", () => {
  let demo: Demo;
  before(async () => {
    demo = await Demo.start();
  });
  after(async () => {
    await demo?.stop();
  });

  const examples = readmeExamples();
  test("the README has examples to run", () => {
    assert.ok(examples.length >= 2, `found ${examples.length} ts blocks dialing ${README_ADDR} with an output block`);
  });

  for (const example of examples) {
    test(`README.md line ${example.line} prints what the README shows`, async () => {
      // Inside the package, so that `@switchyard/client` resolves to it (self-reference
      // through package.json "exports"), as it does in a project that installed it.
      const file = fileURLToPath(new URL(`./readme-example-${example.line}.mjs`, import.meta.url));
      await writeFile(file, example.code.replaceAll(README_ADDR, demo.addr));
      try {
        const { stdout } = await promisify(execFile)(process.execPath, [file], { timeout: 30_000 });
        assert.equal(stdout, example.output);
      } finally {
        await rm(file, { force: true });
      }
    });
  }
});
