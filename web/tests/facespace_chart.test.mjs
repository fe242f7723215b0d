import assert from "node:assert/strict";
import { test } from "node:test";

import { CHART_STYLE, chartHeight, clipLabel, layoutCharts, niceCeil } from "../js/facespace_chart.js";

const NAMES = ["anna", "ben", "cara", "dan"];

test("axis maximum rounds up to a nice number", () => {
  assert.equal(niceCeil(0.9), 1);
  assert.equal(niceCeil(1), 1);
  assert.equal(niceCeil(1.1), 1.25);
  assert.equal(niceCeil(1.75), 2);
  assert.equal(niceCeil(3.2), 4);
  assert.equal(niceCeil(0.031), 0.04);
  assert.equal(niceCeil(0), 1);
  assert.equal(niceCeil(NaN), 1);
});

test("nothing to draw takes no room", () => {
  assert.deepEqual(layoutCharts([], NAMES, 400).panels, []);
  assert.equal(chartHeight(undefined, 400), 0);
});

test("bars stand on the baseline, scale with the weight and carry the face names", () => {
  const { panels, axisMax } = layoutCharts([[1, 0.5, 0, 2]], NAMES, 400, 10, 20);
  assert.ok(axisMax > 2 && axisMax <= 2.5, "a nice maximum a little above the largest weight");
  const [panel] = panels;
  const baseline = panel.plot.y + panel.plot.h;
  assert.deepEqual(panel.bars.map((b) => b.label), NAMES);
  for (const bar of panel.bars) assert.ok(Math.abs(bar.y + bar.h - baseline) < 1e-9);
  assert.ok(Math.abs(panel.bars[3].h - (2 / axisMax) * panel.plot.h) < 1e-9);
  assert.ok(panel.bars[3].h > 0.75 * panel.plot.h, "the largest weight nearly fills the plot");
  assert.ok(Math.abs(panel.bars[0].h - panel.bars[3].h / 2) < 1e-9);
  assert.equal(panel.bars[2].h, 0);
  assert.ok(panel.x >= 10 && panel.y >= 20);
});

test("bars stay inside their panel and do not overlap", () => {
  const { panels } = layoutCharts([[0.3, 0.9, 0.1, 0.5]], NAMES, 300);
  const { plot, bars } = panels[0];
  for (let i = 0; i < bars.length; i++) {
    assert.ok(bars[i].x >= plot.x && bars[i].x + bars[i].w <= plot.x + plot.w + 1e-9);
    if (i) assert.ok(bars[i].x >= bars[i - 1].x + bars[i - 1].w);
  }
});

test("panels wrap into rows that fit the width and share one axis", () => {
  const weights = [[1, 0, 0, 0], [0, 3, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 1, 1, 1]];
  const width = 2 * CHART_STYLE.minPanelWidth + CHART_STYLE.gap + 10; // room for two columns
  const { panels, height, axisMax } = layoutCharts(weights, NAMES, width);
  assert.equal(axisMax, 4, "one axis for all panels, above the largest weight (3)");
  assert.equal(new Set(panels.map((p) => p.x)).size, 2);
  assert.equal(new Set(panels.map((p) => p.y)).size, 3);
  for (const p of panels) assert.ok(p.x + p.w <= width + 1e-9);
  assert.equal(height, 3 * CHART_STYLE.panelHeight + 2 * CHART_STYLE.gap);
  assert.equal(chartHeight(weights, width), height);
});

test("images past the panel limit are counted, not drawn", () => {
  const weights = Array.from({ length: CHART_STYLE.maxPanels + 3 }, () => [1, 1]);
  const layout = layoutCharts(weights, ["a", "b"], 1000);
  assert.equal(layout.panels.length, CHART_STYLE.maxPanels);
  assert.equal(layout.hidden, 3);
  assert.ok(chartHeight(weights, 1000) > layout.height);
});

test("missing names fall back to numbered labels; negative weights draw no bar height", () => {
  const { panels } = layoutCharts([[-1, 1, 0.5]], ["only"], 400);
  assert.deepEqual(panels[0].bars.map((b) => b.label), ["only", "face 2", "face 3"]);
  assert.equal(panels[0].bars[0].h, 0);
});

test("labels are clipped with an ellipsis", () => {
  assert.equal(clipLabel("alexandra", 5), "alex…");
  assert.equal(clipLabel("ann", 5), "ann");
});
