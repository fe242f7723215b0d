// FaceSpace front end: one slider per face on BlendWeights, kept in sync with its `weights` text,
// and a bar chart of the weights each blended image used, shown on the node after it runs.
//
// Sliders, status line and chart live in one DOM widget (facespace_panel.js), which the classic
// canvas and the Nodes 2.0 (Vue) renderer both display. The `weights` text stays the only value:
// the panel is not serialised, so workflows keep their widgets_values; the last known face names and
// chart are kept in node.properties so both come back when the workflow is opened.
//
// Face names reach BlendWeights three ways: from any upstream node that outputs a FACESPACE and
// reports `facespace_names` when it runs, from BlendWeights' own run, and from the server route
// /facespace/names when the FACESPACE comes straight from a Load FaceSpace node (before any run).
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { chainCallback } from "./facespace_hooks.js";
import { BlendPanel } from "./facespace_panel.js";
import {
  applySliderChange,
  blendShares,
  describeProblems,
  readSliderState,
  sameNames,
  sliderMax,
} from "./facespace_weights.js";

const BLEND_NODE = "FaceSpaceBlendWeights";
const LOAD_NODE = "FaceSpaceLoad";
const ALIGN_NODE = "FaceSpaceAlignFaces";
const FACESPACE_TYPE = "FACESPACE";
const WEIGHTS_WIDGET = "weights";
const MODE_WIDGET = "mode";
const NORMALIZE_WIDGET = "normalize";
const RANDOM_MODE = "random";
const COUNT_WIDGET = "count";
const GROUP_WIDGETS = ["coarse_weights", "middle_weights", "fine_weights"];
const PANEL_WIDGET = "facespace_blend_panel";
const MESSAGE_WIDGET = "facespace_message";
const NAMES_PROPERTY = "facespace_names";
const CHART_PROPERTY = "facespace_chart";

// ---------------------------------------------------------------- graph helpers

function isBlendNode(node) {
  return node?.comfyClass === BLEND_NODE || node?.type === BLEND_NODE;
}

function widgetNamed(node, name) {
  return node.widgets?.find((w) => w.name === name);
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
  const slot = (node.inputs ?? []).findIndex((input) => input.type === FACESPACE_TYPE);
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
  const wanted = node.computeSize?.();
  if (wanted) node.setSize([Math.max(node.size[0], wanted[0]), wanted[1]]);
  redraw(node);
}

function panelWidth(node) {
  const fs = node.__facespace;
  return fs.panel.element.clientWidth || (node.size?.[0] ?? 300) - 20;
}

// ---------------------------------------------------------------- BlendWeights state

function readText(node) {
  return String(widgetNamed(node, WEIGHTS_WIDGET)?.value ?? "");
}

function statusFor(node, state) {
  const fs = node.__facespace;
  if (widgetNamed(node, MODE_WIDGET)?.value === RANDOM_MODE) {
    return ["mode = random: the weights text and sliders are not used", "hint"];
  }
  if (!fs.names.length) {
    return ["Sliders appear once the face names are known (run, or pick a Load FaceSpace file)", "hint"];
  }
  const problems = describeProblems(state);
  if (problems) return [problems, "warn"];
  if (state.form === "empty") return ["weights empty: every face gets an equal share", "hint"];
  const randomGroup = GROUP_WIDGETS.some(
    (name) => String(widgetNamed(node, name)?.value ?? "").trim().toLowerCase() === RANDOM_MODE);
  if (Number(widgetNamed(node, COUNT_WIDGET)?.value) > 1 && !randomGroup) {
    return ["count is for random mode (or a random layer group): weights mode makes one blend", "hint"];
  }
  return ["", "hint"];
}

/**
 * Sliders, their captions and the status line follow the text. While a slider is being dragged the
 * range only grows, so the slider under the pointer does not rescale.
 */
function syncFromText(node, { keepRange = false } = {}) {
  const fs = node.__facespace;
  const state = readSliderState(readText(node), fs.names);
  const top = sliderMax(state.values);
  fs.sliderMax = keepRange ? Math.max(fs.sliderMax ?? 1, top) : top;
  const normalize = widgetNamed(node, NORMALIZE_WIDGET)?.value !== false;
  const shares = normalize ? blendShares(state.values, fs.names, true) : null;
  const random = widgetNamed(node, MODE_WIDGET)?.value === RANDOM_MODE;
  fs.panel.showValues(state.values, fs.sliderMax, shares, random);
  const [text, kind] = statusFor(node, state);
  const before = fs.panel.status.text;
  fs.panel.setStatus(text, kind);
  if (Boolean(before) !== Boolean(text)) fitHeight(node);
  redraw(node);
}

/** A slider moved: rewrite that face's entry in the text, keep everything else as typed. */
function onSliderMoved(node, faceName, value, done) {
  const fs = node.__facespace;
  const widget = widgetNamed(node, WEIGHTS_WIDGET);
  if (!widget) return;
  const rounded = Math.round(value * 100) / 100;
  const text = applySliderChange(readText(node), fs.names, faceName, rounded);
  fs.writing = true;
  try {
    widget.value = text; // shown by the text widget in both renderers; also what is queued
  } finally {
    fs.writing = false;
  }
  syncFromText(node, { keepRange: !done });
  node.graph?.change?.();
}

/** Replace the sliders when the FaceSpace's names change. */
function setFaceNames(node, names) {
  const fs = node.__facespace;
  if (!fs || !Array.isArray(names)) return;
  names = names.map(String);
  if (sameNames(fs.names, names)) return;
  fs.names = names;
  node.properties[NAMES_PROPERTY] = names;
  fs.panel.setNames(names);
  syncFromText(node);
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

/**
 * The chart of the last run. It is kept in node.properties so it is still there when the workflow is
 * reopened: a run whose outputs are all cached does not send BlendWeights' results again.
 */
function showChart(node, chart) {
  node.__facespace.panel.setChart(chart, panelWidth(node));
  node.properties[CHART_PROPERTY] = chart;
  fitHeight(node);
}

// ---------------------------------------------------------------- node setup

const PANEL_MARGIN = 4;

/** A DOM widget of `height()` px around `element` (the classic canvas takes the margin off both ends). */
function addPanelWidget(node, name, element, height) {
  const size = () => height() + 2 * PANEL_MARGIN;
  const widget = node.addDOMWidget(name, name, element, {
    serialize: false,
    hideOnZoom: false,
    margin: PANEL_MARGIN,
    getValue: () => "",
    setValue: () => {},
    getMinHeight: size,
    getMaxHeight: size,
  });
  widget.serialize = false; // neither in widgets_values nor in the prompt
  return widget;
}

function setupBlendNode(node) {
  const panel = new BlendPanel(document, { onSlide: (name, value, done) => onSliderMoved(node, name, value, done) });
  const fs = { names: [], panel, writing: false, sliderMax: 1 };
  node.__facespace = fs;
  fs.widget = addPanelWidget(node, PANEL_WIDGET, panel.element, () => panel.height(panelWidth(node)));

  // Typing in the text (either renderer calls the widget's callback), or changing mode or normalize.
  const weights = widgetNamed(node, WEIGHTS_WIDGET);
  if (weights) chainCallback(weights, "callback", () => fs.writing || syncFromText(node));
  for (const name of [MODE_WIDGET, NORMALIZE_WIDGET, COUNT_WIDGET, ...GROUP_WIDGETS]) {
    const widget = widgetNamed(node, name);
    if (widget) chainCallback(widget, "callback", () => syncFromText(node));
  }
  // The chart is laid out for the panel's width; redo it when the node is resized.
  if (typeof ResizeObserver !== "undefined") {
    new ResizeObserver(() => {
      if (panel.chart && Math.abs(panelWidth(node) - (panel.chartWidth ?? 0)) > 2) {
        panel.drawChart(panelWidth(node));
        fitHeight(node);
      }
    }).observe(panel.element);
  }
  syncFromText(node);
}

function setupBlendPrototype(nodeType) {
  chainCallback(nodeType.prototype, "onNodeCreated", function () {
    setupBlendNode(this);
  });

  // A workflow opened, pasted or undone: the text, names and chart come from the saved node.
  chainCallback(nodeType.prototype, "onConfigure", function () {
    if (!this.__facespace) return;
    const names = this.properties?.[NAMES_PROPERTY];
    if (Array.isArray(names) && names.length) setFaceNames(this, names);
    syncFromText(this);
    const chart = this.properties?.[CHART_PROPERTY];
    if (Array.isArray(chart?.weights) && Array.isArray(chart?.names)) showChart(this, chart);
  });

  chainCallback(nodeType.prototype, "onExecuted", function (message) {
    if (!this.__facespace) return;
    const names = message?.facespace_names;
    if (Array.isArray(names)) setFaceNames(this, names);
    const weights = message?.facespace_weights;
    if (Array.isArray(weights)) {
      const rounded = weights.map((row) => row.map((w) => Number(Number(w).toFixed(4))));
      showChart(this, { weights: rounded, names: this.__facespace.names });
    }
  });

  chainCallback(nodeType.prototype, "onConnectionsChange", function (side, slot, connected) {
    if (connected && this.inputs?.[slot]?.type === FACESPACE_TYPE && this.__facespace) namesFromLoadNode(this);
  });
}

/** Any node with a FACESPACE output passes the names it reports to the BlendWeights nodes it feeds. */
function setupFacespaceSourcePrototype(nodeType) {
  chainCallback(nodeType.prototype, "onExecuted", function (message) {
    const names = message?.facespace_names;
    if (!Array.isArray(names)) return;
    this.__facespaceNames = names.map(String);
    for (const target of blendNodesDownstream(this)) setFaceNames(target, this.__facespaceNames);
  });
}

/** Load FaceSpace: picking another file refreshes the sliders of the BlendWeights it feeds. */
function setupLoadNode(node) {
  const combo = node.widgets?.find((w) => w.type === "combo");
  if (!combo) return;
  chainCallback(combo, "callback", () => {
    node.__facespaceNames = null;
    fetchNames(combo.value).then((names) => {
      if (!names) return;
      node.__facespaceNames = names;
      for (const target of blendNodesDownstream(node)) setFaceNames(target, names);
    });
  });
}

/** A line of text on a node (e.g. AlignFaces' skipped photos), added when first needed. */
function showNodeMessage(node, text) {
  let widget = widgetNamed(node, MESSAGE_WIDGET);
  if (!widget) {
    const element = document.createElement("div");
    element.dataset.facespace = "message";
    Object.assign(element.style, { font: "11px sans-serif", color: "#e8a33d", padding: "2px 6px",
      whiteSpace: "pre-wrap", overflow: "hidden", boxSizing: "border-box" });
    const height = () => (element.textContent ? 16 * lineCount(element) + 6 : 0);
    widget = addPanelWidget(node, MESSAGE_WIDGET, element, height);
  }
  widget.element.textContent = text;
  widget.element.title = text;
  fitHeight(node);
}

function lineCount(element) {
  const rows = element.textContent.split("\n").reduce((n, line) => n + Math.max(1, Math.ceil(line.length / 60)), 0);
  return Math.max(1, Math.min(12, rows));
}

/** Text a node reports after a run (training's PSNR per face, Project Image's summary, similarity table). */
function setupReportPrototype(nodeType) {
  chainCallback(nodeType.prototype, "onExecuted", function (message) {
    const lines = [message?.text, message?.facespace_report].filter(Array.isArray).flat().map(String);
    if (lines.length) showNodeMessage(this, lines.join("\n"));
  });
}

/** AlignFaces with skip_missing: say which photos had no face, on the node and as a notice. */
function setupAlignPrototype(nodeType) {
  chainCallback(nodeType.prototype, "onExecuted", function (message) {
    const skipped = message?.facespace_skipped;
    if (!Array.isArray(skipped)) return;
    const text = skipped.length ? `skipped ${skipped.length} photo(s) without a face: ${skipped.join(", ")}` : "";
    if (text || widgetNamed(this, MESSAGE_WIDGET)) showNodeMessage(this, text);
    if (text) app.extensionManager?.toast?.add?.({ severity: "warn", summary: "AlignFaces", detail: text, life: 8000 });
  });
}

app.registerExtension({
  name: "FaceSpace.BlendWeights",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    const outputs = nodeData?.output ?? [];
    if (nodeData?.name === BLEND_NODE) setupBlendPrototype(nodeType);
    if (nodeData?.name === ALIGN_NODE) setupAlignPrototype(nodeType);
    else if (String(nodeData?.category ?? "").startsWith("FaceSpace")) setupReportPrototype(nodeType);
    if (outputs.includes(FACESPACE_TYPE)) setupFacespaceSourcePrototype(nodeType);
    if (nodeData?.name === LOAD_NODE) {
      chainCallback(nodeType.prototype, "onNodeCreated", function () {
        setupLoadNode(this);
      });
    }
  },
  async afterConfigureGraph() {
    // After a workflow opens, ask the server for names of FaceSpaces picked on Load FaceSpace nodes.
    for (const node of app.graph?.nodes ?? []) {
      if (isBlendNode(node) && node.__facespace && !node.__facespace.names.length) namesFromLoadNode(node);
    }
  },
});
