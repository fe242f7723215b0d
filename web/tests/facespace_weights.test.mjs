import assert from "node:assert/strict";
import { test } from "node:test";

import {
  applySliderChange,
  blendShares,
  canonicalText,
  describeProblems,
  formatNumber,
  formatWeights,
  parseWeights,
  readSliderState,
  resolveName,
  sameNames,
  sliderMax,
} from "../js/facespace_weights.js";

const NAMES = ["anna", "ben", "cara"];

test("parses the canonical form and the looser separators", () => {
  assert.deepEqual(parseWeights("anna=0.5, ben=1"), [
    { kind: "weight", name: "anna", value: 0.5 },
    { kind: "weight", name: "ben", value: 1 },
  ]);
  const loose = parseWeights(" anna = .25 ;\nben: 2e-1,, cara=3 ");
  assert.deepEqual(loose.map((e) => [e.name, e.value]), [["anna", 0.25], ["ben", 0.2], ["cara", 3]]);
});

test("bare numbers are positional entries", () => {
  assert.deepEqual(parseWeights("0.5, 1").map((e) => [e.kind, e.value]), [["bare", 0.5], ["bare", 1]]);
});

test("pieces that are not name=number are kept verbatim", () => {
  const entries = parseWeights("anna=0.5, ben, cara=lots, dan=1e999");
  assert.deepEqual(entries.filter((e) => e.kind === "raw").map((e) => e.text), ["ben", "cara=lots", "dan=1e999"]);
  assert.equal(formatWeights(entries), "anna=0.5, ben, cara=lots, dan=1e999");
});

test("numbers are written short with up to six decimals", () => {
  assert.equal(formatNumber(1), "1");
  assert.equal(formatNumber(0.5), "0.5");
  assert.equal(formatNumber(1 / 3), "0.333333");
  assert.equal(formatNumber(1e-5), "0.00001");
  assert.equal(formatNumber(-1e-9), "0");
  assert.equal(formatNumber(0.1 + 0.2), "0.3");
  assert.equal(formatNumber(2.5, 2), "2.5");
});

test("canonical text survives a parse/format round trip", () => {
  const text = "anna=0.5, ben=1, cara=0.125";
  assert.equal(formatWeights(parseWeights(text)), text);
  assert.equal(canonicalText(NAMES, { anna: 0.5, ben: 1, cara: 0.125 }), text);
});

test("names resolve exactly first, then by a unique case-insensitive match", () => {
  assert.equal(resolveName("ben", NAMES), 1);
  assert.equal(resolveName("BEN", NAMES), 1);
  assert.equal(resolveName("Ann", ["ann", "ANN"]), -1, "ambiguous");
  assert.equal(resolveName("ANN", ["ann", "ANN"]), 1, "exact wins");
  assert.equal(resolveName("zoe", NAMES), -1);
});

test("empty text shows the equal shares the blend will use", () => {
  const state = readSliderState("  ", NAMES);
  assert.equal(state.form, "empty");
  assert.deepEqual(state.values, { anna: 1 / 3, ben: 1 / 3, cara: 1 / 3 });
  assert.equal(describeProblems(state), "");
});

test("named text: known names get values, missing ones 0, unknown names are flagged", () => {
  const state = readSliderState("ben=0.4, zoe=2, Anna=1.5", NAMES);
  assert.deepEqual(state.values, { anna: 1.5, ben: 0.4, cara: 0 });
  assert.deepEqual(state.unknown, ["zoe"]);
  assert.match(describeProblems(state), /unknown: zoe/);
});

test("positional text fills the sliders in training order, a wrong count is reported", () => {
  assert.deepEqual(readSliderState("0.2, 0.3, 0.5", NAMES).values, { anna: 0.2, ben: 0.3, cara: 0.5 });
  const wrong = readSliderState("0.2, 0.3", NAMES);
  assert.deepEqual(wrong.countMismatch, [2, 3]);
  assert.match(describeProblems(wrong), /2 values for 3 faces/);
});

test("repeated faces keep the first value; bare numbers among names and bad values are reported", () => {
  const state = readSliderState("anna=0.2, ANNA=0.9, ben=x, 0.5", NAMES);
  assert.equal(state.values.anna, 0.2);
  assert.deepEqual(state.duplicates, ["anna"]);
  assert.deepEqual(state.malformed, ["ben=x", "0.5"]);
  const line = describeProblems(state);
  assert.match(line, /repeated: anna/);
  assert.match(line, /not name=value: ben=x, 0.5/);
});

test("negative and all-zero weights are reported", () => {
  assert.match(describeProblems(readSliderState("anna=-1, ben=1", NAMES)), /negative: anna/);
  assert.match(describeProblems(readSliderState("anna=0, ben=0", NAMES)), /all weights are 0/);
  assert.equal(describeProblems(readSliderState("anna=1, ben=0", NAMES)), "");
});

test("moving a slider rewrites only that entry and keeps unknown names and odd pieces", () => {
  const text = "ben=0.4, zoe=2, Anna: 1.5, what";
  const moved = applySliderChange(text, NAMES, "anna", 0.75);
  assert.equal(moved, "ben=0.4, zoe=2, Anna=0.75, what");
  const state = readSliderState(moved, NAMES);
  assert.equal(state.values.anna, 0.75);
  assert.deepEqual(state.unknown, ["zoe"]);
  assert.deepEqual(state.malformed, ["what"]);
});

test("moving a slider for a face missing from named text appends it", () => {
  assert.equal(applySliderChange("anna=1", NAMES, "cara", 0.3), "anna=1, cara=0.3");
});

test("empty or positional text becomes canonical so the other faces keep their weights", () => {
  assert.equal(applySliderChange("", NAMES, "ben", 0.5), "anna=0.333333, ben=0.5, cara=0.333333");
  assert.equal(applySliderChange("0.2, 0.3, 0.5", NAMES, "cara", 0), "anna=0.2, ben=0.3, cara=0");
});

test("text -> sliders -> text is stable for every slider", () => {
  let text = "anna=0.1, ben=0.2, cara=0.3";
  for (const name of NAMES) text = applySliderChange(text, NAMES, name, readSliderState(text, NAMES).values[name]);
  assert.equal(text, "anna=0.1, ben=0.2, cara=0.3");
});

test("slider range reaches the largest value in the text", () => {
  assert.equal(sliderMax({ a: 0.2, b: 0.9 }), 1);
  assert.equal(sliderMax({ a: 1.75, b: 0 }), 2);
  assert.equal(sliderMax({}), 1);
});

test("name lists compare by order and content", () => {
  assert.ok(sameNames(["a", "b"], ["a", "b"]));
  assert.ok(!sameNames(["a", "b"], ["b", "a"]));
  assert.ok(!sameNames(["a"], null));
});

test("names holding '=' or ':' split at the last one, as the node reads them", () => {
  const entries = parseWeights("a=b=0.25, ratio: 1:2: 0.75");
  assert.deepEqual(entries.map((e) => [e.name, e.value]), [["a=b", 0.25], ["ratio: 1:2", 0.75]]);
});

test("case-insensitive names fold like Python's casefold", () => {
  assert.equal(resolveName("STRASSE", ["straße", "anna"]), 0);
});

test("shares are what the blend uses: divided by the sum when normalising, else as given", () => {
  assert.deepEqual(blendShares({ anna: 1, ben: 3, cara: 0 }, NAMES), [0.25, 0.75, 0]);
  assert.deepEqual(blendShares({ anna: 1, ben: 3, cara: 0 }, NAMES, false), [1, 3, 0]);
  assert.equal(blendShares({ anna: 0, ben: 0, cara: 0 }, NAMES), null);
});
