// BlendWeights in a real ComfyUI page, driven by Playwright in headless Chromium.
//
//   node tests/browser/blendweights_page.mjs   (settings as JSON in FACESPACE_BROWSER_CHECK, see tests/test_browser.py)
//
// Opens the shipped random-blends workflow, switches BlendWeights to weights mode, drags a slider,
// types weights, runs the graph and reads the chart, then saves and reopens the workflow; in the
// renderer asked for (classic canvas or Nodes 2.0). Prints one JSON line of what it saw; exits 1 with
// the reason when something is not as expected. Screenshots go to the folder given, never the repo.
import assert from "node:assert/strict";
import path from "node:path";

const settings = JSON.parse(process.env.FACESPACE_BROWSER_CHECK);
const { chromium } = await import(settings.playwright);
const { url, renderer, shots, generator, facespaceFile, workflow, seed } = settings;
const vue = renderer === "vue";
const seen = { renderer, steps: [] };
const NAMES = ["anna", "bea", "carla", "dora"];

// A new, empty profile (settings.profile) for every run.
const browser = await chromium.launchPersistentContext(settings.profile, {
  executablePath: settings.chromium,
  headless: true,
  viewport: { width: 1600, height: 1000 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = browser.pages()[0] ?? (await browser.newPage());
const errors = [];
// Errors thrown by this pack's scripts (the front ends log a few of their own at start-up).
page.on("pageerror", (e) => { if (/facespace/i.test(String(e.stack ?? e))) errors.push(String(e.stack ?? e)); });
page.on("console", (m) => { if (m.type() === "error" && /facespace/i.test(m.text())) errors.push(m.text()); });

async function shot(name) {
  const file = path.join(shots, `${renderer}-${name}.png`);
  await page.screenshot({ path: file });
  seen.steps.push(file);
}

/** Panel state read from the page: slider labels and values, status line, chart bars, shown text. */
async function readNode() {
  return page.evaluate(({ vue }) => {
    const node = window.app.graph.nodes.find((n) => n.comfyClass === "FaceSpaceBlendWeights");
    const panel = node.widgets.find((w) => w.name === "facespace_blend_panel").element;
    const weights = node.widgets.find((w) => w.name === "weights");
    const vueBox = document.querySelector(`[data-node-id="${node.id}"]`);
    const shownArea = vue ? vueBox?.querySelector("textarea") : weights.element;
    const rect = panel.getBoundingClientRect();
    return {
      id: node.id,
      visible: rect.width > 0 && rect.height > 0 && panel.isConnected,
      insideVueNode: Boolean(vueBox?.contains(panel)),
      labels: [...panel.querySelectorAll("[data-face] > span:first-child")].map((e) => e.textContent),
      sliders: [...panel.querySelectorAll("input[type=range]")].map((e) => Number(e.value)),
      captions: [...panel.querySelectorAll("[data-face] > span:last-child")].map((e) => e.textContent),
      status: panel.querySelector("[data-facespace=status]").textContent,
      panelHeight: [rect.height, panel.scrollHeight],
      bars: [...panel.querySelectorAll("svg rect[data-face]")].map((r) => [r.dataset.face, Number(r.dataset.value)]),
      queuedText: weights.value,
      shownText: shownArea?.value ?? null,
      vueNodes: document.querySelectorAll("[data-node-id]").length,
      widgetsValues: node.serialize().widgets_values,
    };
  }, { vue });
}

async function waitFor(check, what, timeout = 20000) {
  const until = Date.now() + timeout;
  let last;
  while (Date.now() < until) {
    last = await readNode().catch((e) => ({ error: String(e) }));
    if (!last.error && check(last)) return last;
    await page.waitForTimeout(150);
  }
  throw new Error(`timed out waiting for ${what}; last state ${JSON.stringify(last)}`);
}

function valuesOf(text) {
  const pairs = text.split(/,\s*/).filter(Boolean).map((p) => p.split("="));
  return Object.fromEntries(pairs.map(([k, v]) => [k, Number(v)]));
}

// Front ends up to 1.27 (the one ComfyUI 0.3.64 pins) ship Nodes 2.0 only as a hidden experiment.
const EXPERIMENTAL_VUE = /^1\.([0-9]|1[0-9]|2[0-7])\./;

try {
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => window.app?.graph && window.app.extensionManager?.setting, null, { timeout: 60000 });
  // The renderer is a user setting; the page is reloaded so it starts in that renderer.
  await page.evaluate(async (vue) => {
    const setting = window.app.extensionManager.setting;
    await setting.set("Comfy.TutorialCompleted", true);
    await setting.set("Comfy.VueNodes.Enabled", vue);
  }, vue);
  await page.reload({ waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => window.app?.graph && window.app.extensionManager?.setting, null, { timeout: 60000 });
  seen.vueSetting = await page.evaluate(() => window.app.extensionManager.setting.get("Comfy.VueNodes.Enabled"));
  seen.frontEnd = await page.evaluate(() => window.__COMFYUI_FRONTEND_VERSION__ ?? null);
  if (vue && EXPERIMENTAL_VUE.test(seen.frontEnd ?? "")) {
    seen.unsupported = "its Nodes 2.0 is a hidden experiment that renders no DOM widgets (nor extension widgets)";
    seen.ok = true;
  }

  if (seen.unsupported) throw new Error("unsupported");
  // The shipped workflow, as the template browser serves it.
  const shippedWidgets = await page.evaluate(async ({ workflow, generator, facespaceFile, seed }) => {
    const graph = await (await window.app.api.fetchApi(workflow)).json();
    const widgetCount = graph.nodes.find((n) => n.type === "FaceSpaceBlendWeights").widgets_values.length;
    await window.app.loadGraphData(graph);
    const nodes = window.app.graph.nodes;
    const set = (type, name, value) => {
      const widget = nodes.find((n) => n.comfyClass === type).widgets.find((w) => w.name === name);
      widget.value = value;
      widget.callback?.(value);
    };
    set("FaceSpaceLoadStyleGAN", "model", generator);
    set("FaceSpaceLoad", "file", facespaceFile);
    set("FaceSpaceBlendWeights", "mode", "weights");
    set("FaceSpaceBlendWeights", "seed", seed); // a prompt of its own, so no run is answered from the cache
    const blend = nodes.find((n) => n.comfyClass === "FaceSpaceBlendWeights");
    window.app.canvas.ds.scale = 1;
    window.app.canvas.ds.offset = [-blend.pos[0] + 400, -blend.pos[1] + 120];
    window.app.graph.setDirtyCanvas(true, true);
    return widgetCount;
  }, { workflow, generator, facespaceFile, seed });

  // Names come from the /facespace/names route before any run; empty text shows equal shares.
  let state = await waitFor((s) => s.labels.length === 4 && s.visible, "one slider per face");
  if (vue) await page.waitForSelector(`[data-node-id="${state.id}"] [data-facespace=blend-panel]`, { timeout: 20000 });
  state = await readNode();
  assert.deepEqual(state.labels, NAMES, "slider labels are the face names");
  assert.equal(state.queuedText, "");
  for (const v of state.sliders) assert.ok(Math.abs(v - 0.25) < 0.011, `empty text: equal shares, ${state.sliders}`);
  assert.match(state.status, /equal share/);
  if (vue) assert.ok(state.vueNodes > 0 && state.insideVueNode, "the panel is inside the Nodes 2.0 node");
  seen.initial = state;
  await shot("1-names");

  // Drag bea's slider most of the way with the mouse.
  const slider = page.locator('[data-facespace=blend-panel] [data-face="bea"] input[type=range]');
  await slider.scrollIntoViewIfNeeded();
  const box = await slider.boundingBox();
  await page.mouse.move(box.x + box.width * 0.25, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 6 });
  await page.mouse.move(box.x + box.width * 0.8, box.y + box.height / 2, { steps: 6 });
  await page.mouse.up();
  state = await waitFor((s) => /bea=0\.[5-9]/.test(s.queuedText), "the drag to reach the text");
  const dragged = valuesOf(state.queuedText);
  assert.equal(state.shownText, state.queuedText, "the text on screen is the text that will be queued");
  assert.ok(dragged.bea > 0.5 && dragged.bea < 0.95, state.queuedText);
  assert.ok(Math.abs(state.sliders[1] - dragged.bea) < 1e-9, "slider and text agree");
  assert.ok(state.panelHeight[0] >= state.panelHeight[1] - 1, `the panel is not clipped: ${state.panelHeight}`);
  for (const name of ["anna", "carla", "dora"]) assert.equal(dragged[name], 0.25, "the other faces keep their share");
  seen.afterDrag = state;
  await shot("2-dragged");

  // Type weights, with an unknown name first: flagged, then fixed.
  const area = (await page.evaluateHandle(({ vue, id }) => {
    if (vue) return document.querySelector(`[data-node-id="${id}"] textarea`);
    const node = window.app.graph.getNodeById(id);
    return node.widgets.find((w) => w.name === "weights").element;
  }, { vue, id: state.id })).asElement();
  await area.click();
  await page.keyboard.press("Control+A");
  await page.keyboard.type("anna=0.2, bea=0.6, bob=1");
  state = await waitFor((s) => /unknown: bob/.test(s.status), "the unknown name to be flagged");
  assert.equal(state.shownText, state.queuedText);
  seen.unknown = state;
  await shot("3-unknown");
  await page.keyboard.press("Control+A");
  await page.keyboard.type("anna=0.2, bea=0.6, dora=0.2");
  state = await waitFor((s) => !/unknown/.test(s.status) && Math.abs(s.sliders[1] - 0.6) < 1e-9,
    "sliders to follow the text");
  // The workflow's count (8) is for random mode; weights mode makes one blend, and the node says so.
  assert.match(state.status, /count is for random mode/);
  assert.deepEqual(state.sliders, [0.2, 0.6, 0, 0.2]);
  assert.equal(state.queuedText, "anna=0.2, bea=0.6, dora=0.2");
  assert.match(state.captions[1], /60%/);

  // Run it: the chart shows the weights the blend used.
  await page.evaluate(() => document.activeElement?.blur?.()); // leave the text field
  seen.promptId = await page.evaluate(async () => {
    const before = new Set(Object.keys(await (await window.app.api.fetchApi("/history")).json()));
    await window.app.queuePrompt(0, 1);
    return [...before];
  });
  state = await waitFor((s) => s.bars.length === 4, "the chart after the run", 120000);
  const expected = [0.2, 0.6, 0, 0.2];
  state.bars.forEach(([face, value], i) => {
    assert.equal(face, NAMES[i]);
    assert.ok(Math.abs(value - expected[i]) < 1e-4, JSON.stringify(state.bars));
  });
  seen.afterRun = state;
  await page.waitForTimeout(300);
  await shot("4-chart");

  // Save and reopen: the text comes back from widgets_values, names and chart from the node's properties.
  const saved = await page.evaluate(() => JSON.stringify(window.app.graph.serialize()));
  const savedNode = JSON.parse(saved).nodes.find((n) => n.type === "FaceSpaceBlendWeights");
  assert.equal(savedNode.widgets_values.length, shippedWidgets, `no panel value in widgets_values: ${savedNode.widgets_values}`);
  assert.equal(savedNode.widgets_values[0], "anna=0.2, bea=0.6, dora=0.2");
  await page.evaluate(async () => { window.app.graph.clear(); });
  await page.evaluate(async (saved) => { await window.app.loadGraphData(JSON.parse(saved)); }, saved);
  state = await waitFor((s) => s.labels.length === 4 && s.bars.length === 4 && s.visible, "the restored node");
  assert.deepEqual(state.sliders, [0.2, 0.6, 0, 0.2]);
  assert.equal(state.shownText, "anna=0.2, bea=0.6, dora=0.2");
  seen.restored = state;
  await shot("5-restored");
  // AlignFaces with skip_missing: the photos it skipped are listed on the node (as its run reports them).
  seen.skippedMessage = await page.evaluate(async () => {
    const node = window.LiteGraph.createNode("FaceSpaceAlignFaces");
    node.pos = [60, 700];
    window.app.graph.add(node);
    node.onExecuted({ facespace_skipped: ["blank.png", "cat.jpg"] });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const element = node.widgets.find((w) => w.name === "facespace_message")?.element;
    const box = element?.getBoundingClientRect();
    return { text: element?.textContent ?? null, shown: Boolean(box && box.width > 0 && box.height > 0) };
  });
  assert.equal(seen.skippedMessage.text, "skipped 2 photo(s) without a face: blank.png, cat.jpg");
  assert.ok(seen.skippedMessage.shown, "the message is on screen");
  await shot("6-skipped");
  assert.deepEqual(errors, [], "no errors from the pack's scripts");
  seen.ok = true;
} catch (error) {
  if (seen.unsupported) {
    await shot("unsupported");
    await browser.close();
    console.log(JSON.stringify(seen));
    process.exit(0);
  }
  seen.ok = false;
  seen.error = String(error?.stack ?? error);
  seen.pageErrors = errors;
  await shot("failure").catch(() => {});
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
process.exit(seen.ok ? 0 : 1);
