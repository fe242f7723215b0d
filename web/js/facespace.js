// FaceSpace front end: one slider per face on BlendWeights, kept in sync with its `weights` text,
// and a bar chart of the weights each blended image used, drawn on the node after it runs.
//
// Face names reach BlendWeights three ways: from any upstream node that outputs a FACESPACE and
// reports `facespace_names` when it runs, from BlendWeights' own run, and from the server route
// /facespace/names when the FACESPACE comes straight from a Load FaceSpace node (before any run).
// The sliders and the chart are not serialized as widget values: the workflow keeps the `weights`
// text, plus the last known names and chart in node.properties so both come back when it is opened.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import {
  applySliderChange,
  describeProblems,
  formatNumber,
  readSliderState,
  sameNames,
  sliderMax,
} from "./facespace_weights.js";
import { CHART_STYLE, chartHeight, clipLabel, layoutCharts } from "./facespace_chart.js";

const BLEND_NODE = "FaceSpaceBlendWeights";
const LOAD_NODE = "FaceSpaceLoad";
const FACESPACE_TYPE = "FACESPACE";
const WEIGHTS_WIDGET = "weights";
const MODE_WIDGET = "mode";
const RANDOM_MODE = "random";
const SLIDER_PREFIX = "facespace_slider:";
const NAMES_PROPERTY = "facespace_names";
const CHART_PROPERTY = "facespace_chart";
const STATUS_HEIGHT = 18;
const PREVIEW_WIDGET = "$$canvas-image-preview"; // the front end's image preview on a node
const COLORS = {
  bar: "#4a90d9",
  barNegative: "#d9534a",
  panel: "rgba(255,255,255,0.04)",
  axis: "#888",
  text: "#ccc",
  warn: "#e8a33d",
  hint: "#888",
};

// ---------------------------------------------------------------- graph helpers

function isBlendNode(node) {
  return node?.comfyClass === BLEND_NODE || node?.type === BLEND_NODE;
}

/** BlendWeights nodes fed by `node`'s FACESPACE outputs, following legacy Reroute nodes. */
function blendNodesDownstream(node, seen = new Set()) {
  const found = [];
  if (!node || seen.has(node.id)) return found;
  seen.add(node.id);
  (node.outputs ?? []).forEach((output, slot) => {
    if (output.type !== FACESPACE_TYPE && output.type !== "*") return;
    for (const target of node.getOutputNodes?.(slot) ?? []) {
      if (isBlendNode(target)) found.push(target);
      else if (target.type === "Reroute") found.push(...blendNodesDownstream(target, seen));
    }
  });
  return found;
}

/** The node feeding BlendWeights' FACESPACE input, through legacy Reroute nodes. */
function facespaceSource(node) {
  let slot = (node.inputs ?? []).findIndex((input) => input.type === FACESPACE_TYPE);
  let source = slot >= 0 ? node.getInputNode(slot) : null;
  for (let hops = 0; source?.type === "Reroute" && hops < 32; hops++) source = source.getInputNode(0);
  return source;
}

/** The file picked on a Load FaceSpace node (its first combo widget). */
function pickedFile(loadNode) {
  return loadNode.widgets?.find((w) => w.type === "combo")?.value;
}

async function fetchNames(file) {
  if (!file) return null;
  try {
    const response = await api.fetchApi(`/facespace/names?file=${encodeURIComponent(file)}`);
    if (!response.ok) return null;
    const body = await response.json();
    return Array.isArray(body.names) ? body.names.map(String) : null;
  } catch {
    return null;
  }
}

function redraw(node) {
  node.setDirtyCanvas?.(true, true);
  app.graph?.setDirtyCanvas?.(true, true);
}

/** Height to fit the widgets (sliders and chart come and go); the width the user chose is kept. */
function fitHeight(node) {
  const wanted = node.computeSize();
  node.setSize([Math.max(node.size[0], wanted[0]), wanted[1]]);
  redraw(node);
}

// ---------------------------------------------------------------- BlendWeights state

function weightsWidget(node) {
  return node.widgets?.find((w) => w.name === WEIGHTS_WIDGET);
}

function readText(node) {
  return String(weightsWidget(node)?.value ?? "");
}

/**
 * Slider values, slider range and the problem line follow the text. While a slider is being dragged
 * the range only grows, so the slider under the pointer does not rescale.
 */
function syncSlidersFromText(node, { keepRange = false } = {}) {
  const fs = node.__facespace;
  const text = readText(node);
  fs.lastText = text;
  const state = readSliderState(text, fs.names);
  const top = sliderMax(state.values);
  for (const slider of fs.sliders) {
    slider.options.max = keepRange ? Math.max(slider.options.max, top) : top;
    slider.value = state.values[slider.facespaceName];
  }
  fs.problems = fs.names.length ? describeProblems(state) : "";
  redraw(node);
}

/** A slider moved: rewrite that face's entry in the text, keep everything else as typed. */
function onSliderMoved(node, faceName, value) {
  const fs = node.__facespace;
  const rounded = Math.round(value * 100) / 100;
  const text = applySliderChange(readText(node), fs.names, faceName, rounded);
  const widget = weightsWidget(node);
  if (widget) widget.value = text;
  syncSlidersFromText(node, { keepRange: true });
  node.graph?.change?.();
}

function makeSlider(node, faceName) {
  // Not serialized (neither in widgets_values nor in the prompt): the weights text is the value.
  const options = { min: 0, max: 1, step: 0.01, precision: 2, serialize: false };
  const moved = (value) => onSliderMoved(node, faceName, value);
  const widget = node.addWidget("slider", `${SLIDER_PREFIX}${faceName}`, 0, moved, options);
  widget.label = faceName;
  widget.serialize = false;
  widget.facespaceName = faceName;
  widget.tooltip = `Blend weight of ${faceName}; writes "${faceName}=value" into the weights text`;
  return widget;
}

/** Replace the sliders when the FaceSpace's names change. */
function setFaceNames(node, names) {
  const fs = node.__facespace;
  if (!Array.isArray(names)) return;
  names = names.map(String);
  if (sameNames(fs.names, names) && fs.sliders.length === names.length) return;
  for (const slider of fs.sliders) node.removeWidget(slider);
  fs.names = names;
  node.properties[NAMES_PROPERTY] = names;
  // New sliders go before the chart and after every serialized widget, so widgets_values keep their indices.
  node.removeWidget(fs.chartWidget);
  fs.sliders = names.map((name) => makeSlider(node, name));
  node.widgets.push(fs.chartWidget);
  syncSlidersFromText(node);
  fitHeight(node);
}

async function namesFromLoadNode(node) {
  const source = facespaceSource(node);
  if (!source) return;
  if (source.__facespaceNames) {
    setFaceNames(node, source.__facespaceNames);
  } else if (source.comfyClass === LOAD_NODE) {
    const names = await fetchNames(pickedFile(source));
    if (names) setFaceNames(node, names);
  }
}

// ---------------------------------------------------------------- chart widget

/**
 * The chart of the last run. It is kept in node.properties so it is still there when the workflow is
 * reopened: a run whose outputs are all cached does not send BlendWeights' results again.
 */
function showChart(node, chart) {
  node.__facespace.chart = chart;
  node.properties[CHART_PROPERTY] = chart;
  fitHeight(node);
}

/** The line above the chart: what the node would refuse in the text, else a hint, else nothing. */
function statusLine(node) {
  const fs = node.__facespace;
  if (fs.problems) return { text: fs.problems, color: COLORS.warn };
  if (node.widgets?.find((w) => w.name === MODE_WIDGET)?.value === RANDOM_MODE) {
    return { text: "mode = random: the weights text and sliders are not used", color: COLORS.hint };
  }
  if (!fs.names.length) {
    const text = "Sliders appear once the face names are known (run, or pick a Load FaceSpace file)";
    return { text, color: COLORS.hint };
  }
  return { text: "", color: COLORS.hint };
}

function drawStatus(ctx, node, width, y) {
  const { text, color } = statusLine(node);
  if (!text) return 0;
  ctx.font = "11px sans-serif";
  ctx.fillStyle = color;
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  const maxChars = Math.max(8, Math.floor((width - 24) / 6));
  ctx.fillText(clipLabel(text, maxChars), 14, y + STATUS_HEIGHT / 2);
  return STATUS_HEIGHT;
}

function drawCharts(ctx, chart, width, y) {
  const layout = layoutCharts(chart.weights, chart.names, width - 24, 12, y);
  ctx.save();
  ctx.font = "9px sans-serif";
  ctx.lineWidth = 1;
  for (const panel of layout.panels) {
    ctx.fillStyle = COLORS.panel;
    ctx.fillRect(panel.x, panel.y, panel.w, panel.h);
    ctx.fillStyle = COLORS.text;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(panel.title, panel.x + panel.w / 2, panel.y + CHART_STYLE.titleHeight / 2);
    ctx.strokeStyle = COLORS.axis;
    ctx.textAlign = "right";
    for (const tick of panel.ticks) {
      ctx.beginPath();
      ctx.moveTo(panel.plot.x - 3, tick.y);
      ctx.lineTo(panel.plot.x + panel.plot.w, tick.y);
      ctx.globalAlpha = tick.value === 0 ? 1 : 0.25;
      ctx.stroke();
      ctx.globalAlpha = 1;
      ctx.fillText(formatNumber(tick.value, 3), panel.plot.x - 5, tick.y);
    }
    const maxChars = Math.max(3, Math.floor((CHART_STYLE.labelHeight - 4) / 5));
    for (const bar of panel.bars) {
      ctx.fillStyle = bar.value < 0 ? COLORS.barNegative : COLORS.bar;
      ctx.fillRect(bar.x, bar.y, bar.w, Math.max(bar.h, bar.value > 0 ? 1 : 0));
      if (bar.w >= 18) {
        ctx.fillStyle = COLORS.text;
        ctx.textAlign = "center";
        ctx.textBaseline = "bottom";
        ctx.fillText(formatNumber(bar.value, 2), bar.x + bar.w / 2, bar.y - 1);
      }
      ctx.save();
      ctx.translate(bar.labelX, bar.labelY);
      ctx.rotate(-Math.PI / 2);
      ctx.fillStyle = COLORS.text;
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      ctx.fillText(clipLabel(bar.label, maxChars), 0, 0);
      ctx.restore();
    }
  }
  if (layout.hidden) {
    ctx.fillStyle = COLORS.hint;
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.fillText(`+${layout.hidden} more blends not shown`, 12, y + layout.height + 8);
  }
  ctx.restore();
}

function makeChartWidget(node) {
  const widget = {
    type: "facespace_chart",
    name: "facespace_chart",
    value: null,
    serialize: false,
    options: { serialize: false },
    computeSize() {
      // Laid out at the node's current width (the width node.computeSize() passes is its minimum).
      const fs = node.__facespace;
      const status = statusLine(node).text ? STATUS_HEIGHT : 0;
      const chart = fs.chart ? chartHeight(fs.chart.weights, node.size[0] - 24) + 6 : 0;
      return [node.size[0], Math.max(status + chart, 4)];
    },
    draw(ctx, drawNode, width, y) {
      const fs = node.__facespace;
      ctx.save();
      const used = drawStatus(ctx, node, width, y);
      if (fs.chart) drawCharts(ctx, fs.chart, width, y + used + 4);
      ctx.restore();
    },
  };
  return node.addCustomWidget(widget);
}

// ---------------------------------------------------------------- node setup

/**
 * Rendering sends progress previews of the blends, which the front end would keep drawing over the
 * node; once the chart is in, drop them (the blends themselves go out through the images output).
 */
function dropRenderPreview(node) {
  if (app.nodePreviewImages) {
    const inSubgraph = node.graph && node.graph !== app.graph && node.graph.id;
    delete app.nodePreviewImages[inSubgraph ? `${node.graph.id}:${node.id}` : String(node.id)];
  }
  node.imgs = undefined;
  node.preview = undefined;
  const preview = node.widgets?.find((w) => w.name === PREVIEW_WIDGET);
  if (preview) {
    node.removeWidget(preview);
    fitHeight(node);
  }
}

function setupBlendNode(node) {
  node.__facespace = { names: [], sliders: [], problems: "", chart: null, lastText: "", chartWidget: null };
  node.__facespace.chartWidget = makeChartWidget(node);

  const widget = weightsWidget(node);
  if (widget) {
    const typed = widget.callback;
    widget.callback = function (...args) {
      const result = typed?.apply(this, args);
      syncSlidersFromText(node);
      return result;
    };
  }
  node.__facespace.lastText = readText(node);
}

function setupBlendPrototype(nodeType) {
  const created = nodeType.prototype.onNodeCreated;
  nodeType.prototype.onNodeCreated = function (...args) {
    const result = created?.apply(this, args);
    setupBlendNode(this);
    return result;
  };

  const configured = nodeType.prototype.onConfigure;
  nodeType.prototype.onConfigure = function (...args) {
    const result = configured?.apply(this, args);
    const names = this.properties?.[NAMES_PROPERTY];
    if (Array.isArray(names) && names.length) setFaceNames(this, names);
    else syncSlidersFromText(this);
    const chart = this.properties?.[CHART_PROPERTY];
    if (Array.isArray(chart?.weights) && Array.isArray(chart?.names)) showChart(this, chart);
    return result;
  };

  const executed = nodeType.prototype.onExecuted;
  nodeType.prototype.onExecuted = function (message, ...rest) {
    const result = executed?.call(this, message, ...rest);
    const names = message?.facespace_names;
    if (Array.isArray(names)) setFaceNames(this, names);
    const weights = message?.facespace_weights;
    if (Array.isArray(weights)) {
      const rounded = weights.map((row) => row.map((w) => Number(Number(w).toFixed(4))));
      showChart(this, { weights: rounded, names: this.__facespace.names });
      dropRenderPreview(this);
    }
    return result;
  };

  const connections = nodeType.prototype.onConnectionsChange;
  nodeType.prototype.onConnectionsChange = function (side, slot, connected, ...rest) {
    const result = connections?.call(this, side, slot, connected, ...rest);
    if (connected && this.inputs?.[slot]?.type === FACESPACE_TYPE && this.__facespace) namesFromLoadNode(this);
    return result;
  };

  // The text can also change without an input event (undo, paste into the node, a loaded workflow),
  // and the last render previews can arrive after the results: both are caught up with when drawn.
  const drawn = nodeType.prototype.onDrawForeground;
  nodeType.prototype.onDrawForeground = function (...args) {
    const result = drawn?.apply(this, args);
    const fs = this.__facespace;
    if (fs && readText(this) !== fs.lastText) syncSlidersFromText(this);
    if (fs?.chart && !fs.running && (this.imgs?.length || this.widgets?.some((w) => w.name === PREVIEW_WIDGET))) {
      dropRenderPreview(this);
    }
    return result;
  };
}

/** Any node with a FACESPACE output passes the names it reports to the BlendWeights nodes it feeds. */
function setupFacespaceSourcePrototype(nodeType) {
  const executed = nodeType.prototype.onExecuted;
  nodeType.prototype.onExecuted = function (message, ...rest) {
    const result = executed?.call(this, message, ...rest);
    const names = message?.facespace_names;
    if (Array.isArray(names)) {
      this.__facespaceNames = names.map(String);
      for (const target of blendNodesDownstream(this)) setFaceNames(target, this.__facespaceNames);
    }
    return result;
  };
}

/** Load FaceSpace: picking another file refreshes the sliders of the BlendWeights it feeds. */
function setupLoadNode(node) {
  const combo = node.widgets?.find((w) => w.type === "combo");
  if (!combo) return;
  const picked = combo.callback;
  combo.callback = function (...args) {
    const result = picked?.apply(this, args);
    node.__facespaceNames = null;
    fetchNames(combo.value).then((names) => {
      if (!names) return;
      node.__facespaceNames = names;
      for (const target of blendNodesDownstream(node)) setFaceNames(target, names);
    });
    return result;
  };
}

app.registerExtension({
  name: "FaceSpace.BlendWeights",
  setup() {
    // Which BlendWeights is running: its render previews are shown only then.
    api.addEventListener("executing", ({ detail }) => {
      const running = detail == null ? null : String(detail);
      for (const node of app.graph?.nodes ?? []) {
        if (node.__facespace) node.__facespace.running = running === String(node.id);
      }
    });
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    const outputs = nodeData?.output ?? [];
    if (nodeData?.name === BLEND_NODE) setupBlendPrototype(nodeType);
    if (outputs.includes(FACESPACE_TYPE)) setupFacespaceSourcePrototype(nodeType);
    if (nodeData?.name === LOAD_NODE) {
      const created = nodeType.prototype.onNodeCreated;
      nodeType.prototype.onNodeCreated = function (...args) {
        const result = created?.apply(this, args);
        setupLoadNode(this);
        return result;
      };
    }
  },
  async afterConfigureGraph() {
    // After a workflow opens, ask the server for names of FaceSpaces picked on Load FaceSpace nodes.
    for (const node of app.graph?.nodes ?? []) {
      if (isBlendNode(node) && node.__facespace && !node.__facespace.names.length) namesFromLoadNode(node);
    }
  },
});
