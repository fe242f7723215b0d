import assert from "node:assert/strict";
import { test } from "node:test";

import { chainCallback } from "../js/facespace_hooks.js";
import { sliderCaption } from "../js/facespace_panel.js";

test("a chained callback runs after the original, with the same this and arguments", () => {
  const calls = [];
  const node = {
    name: "n",
    onExecuted(message) {
      calls.push(["original", this.name, message]);
      return "kept";
    },
  };
  chainCallback(node, "onExecuted", function (message) {
    calls.push(["added", this.name, message]);
  });
  chainCallback(node, "onExecuted", (message) => calls.push(["second", message]));
  assert.equal(node.onExecuted({ a: 1 }), "kept");
  assert.deepEqual(calls, [["original", "n", { a: 1 }], ["added", "n", { a: 1 }], ["second", { a: 1 }]]);
});

test("chaining onto nothing just adds the callback", () => {
  const widget = {};
  let seen = null;
  chainCallback(widget, "callback", (value) => (seen = value));
  assert.equal(widget.callback("text"), undefined);
  assert.equal(seen, "text");
});

test("slider captions show the value and, when the blend divides by the sum, the share", () => {
  assert.equal(sliderCaption(0.6, 0.4), "0.6 · 40%");
  assert.equal(sliderCaption(1 / 3, null), "0.33");
  assert.equal(sliderCaption(0, 0), "0 · 0%");
});
