// The BlendWeights panel: one slider per face (labelled with the face name), a status line and the
// bar chart of the last run, as plain DOM. ComfyUI shows it as a DOM widget, which both the classic
// canvas and the Nodes 2.0 (Vue) renderer display; nothing here touches ComfyUI.
import { CHART_STYLE, chartHeight, clipLabel, layoutCharts } from "./facespace_chart.js";
import { formatNumber } from "./facespace_weights.js";

const SVG = "http://www.w3.org/2000/svg";
const ROW_HEIGHT = 24;
const STATUS_HEIGHT = 18;
const PADDING = 4;
const CHART_INSET = 8; // room left of the axis for tick values such as "0.375"
const COLORS = {
  bar: "#4a90d9",
  barNegative: "#d9534a",
  panel: "rgba(127,127,127,0.10)",
  axis: "#888",
  text: "var(--input-text, #ccc)",
  warn: "#e8a33d",
  hint: "var(--descrip-text, #888)",
};

function el(doc, tag, style = {}, attrs = {}) {
  const node = doc.createElement(tag);
  Object.assign(node.style, style);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function svgEl(doc, tag, attrs = {}) {
  const node = doc.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** "0.6" or, where the blend divides by the sum, "0.6 · 40%" (the share the face gets). */
export function sliderCaption(value, share) {
  const shown = formatNumber(value, 2);
  return share == null ? shown : `${shown} · ${Math.round(share * 100)}%`;
}

export class BlendPanel {
  /** `onSlide(name, value, done)` runs while a slider moves (done = false) and when it is let go (true). */
  constructor(doc, { onSlide }) {
    this.doc = doc;
    this.onSlide = onSlide;
    this.names = [];
    this.rows = new Map();
    this.chart = null;
    this.status = { text: "", kind: "hint" };
    this.element = el(doc, "div", {
      display: "flex", flexDirection: "column", gap: "2px", padding: `${PADDING}px 6px`,
      boxSizing: "border-box", width: "100%", font: "11px sans-serif", color: COLORS.text, overflow: "hidden",
    }, { class: "facespace-blend-panel", "data-facespace": "blend-panel" });
    this.slidersBox = el(doc, "div", { display: "flex", flexDirection: "column" }, { "data-facespace": "sliders" });
    this.statusLine = el(doc, "div", { minHeight: "0px", whiteSpace: "nowrap", overflow: "hidden",
      textOverflow: "ellipsis" }, { "data-facespace": "status" });
    this.chartBox = el(doc, "div", { width: "100%" }, { "data-facespace": "chart" });
    this.element.append(this.slidersBox, this.statusLine, this.chartBox);
  }

  /** One slider per face, in training order. */
  setNames(names) {
    this.names = [...names];
    this.rows.clear();
    this.slidersBox.replaceChildren();
    for (const name of this.names) {
      const row = el(this.doc, "label", {
        display: "grid", gridTemplateColumns: "minmax(40px, 30%) 1fr 74px", alignItems: "center", gap: "6px",
        height: `${ROW_HEIGHT}px`,
      }, { "data-face": name, title: `Blend weight of ${name}; writes "${name}=value" into the weights text` });
      const label = el(this.doc, "span", { overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap" });
      label.textContent = name;
      const slider = el(this.doc, "input", { width: "100%", margin: "0", accentColor: COLORS.bar },
        { type: "range", min: "0", max: "1", step: "0.01", "aria-label": name });
      const caption = el(this.doc, "span", { textAlign: "right", fontVariantNumeric: "tabular-nums" });
      slider.addEventListener("input", () => this.onSlide(name, Number(slider.value), false));
      slider.addEventListener("change", () => this.onSlide(name, Number(slider.value), true));
      row.append(label, slider, caption);
      this.slidersBox.append(row);
      this.rows.set(name, { row, slider, caption });
    }
  }

  /**
   * Show the values the text gives (values: {name: number}), on sliders running 0..max,
   * with the share each face gets (shares: array in name order, or null), greyed out when `disabled`.
   */
  showValues(values, max, shares, disabled) {
    this.names.forEach((name, i) => {
      const { slider, caption, row } = this.rows.get(name);
      slider.max = String(max);
      slider.value = String(values[name] ?? 0);
      slider.disabled = Boolean(disabled);
      row.style.opacity = disabled ? "0.45" : "1";
      row.dataset.value = String(values[name] ?? 0);
      caption.textContent = sliderCaption(values[name] ?? 0, shares ? shares[i] : null);
    });
  }

  setStatus(text, kind = "hint") {
    this.status = { text, kind };
    this.statusLine.textContent = text;
    this.statusLine.title = text;
    this.statusLine.dataset.kind = kind;
    this.statusLine.style.color = kind === "warn" ? COLORS.warn : COLORS.hint;
    this.statusLine.style.height = text ? `${STATUS_HEIGHT}px` : "0px";
    this.statusLine.style.lineHeight = `${STATUS_HEIGHT}px`;
  }

  /** The chart of a run ({weights: [[w per face] per blend], names}) or null; drawn at `width` px. */
  setChart(chart, width) {
    this.chart = chart;
    this.drawChart(width);
  }

  drawChart(width) {
    this.chartBox.replaceChildren();
    if (!this.chart) return;
    width = Math.max(CHART_STYLE.minPanelWidth, Math.floor(width || 0));
    this.chartWidth = width;
    const layout = layoutCharts(this.chart.weights, this.chart.names, width - CHART_INSET, CHART_INSET, 0);
    const height = chartHeight(this.chart.weights, width);
    const svg = svgEl(this.doc, "svg", { width, height, viewBox: `0 0 ${width} ${height}`,
      "font-family": "sans-serif", "data-blends": this.chart.weights.length });
    const maxChars = Math.max(3, Math.floor((CHART_STYLE.labelHeight - 4) / 5));
    layout.panels.forEach((panel, index) => {
      const g = svgEl(this.doc, "g", { "data-blend": index });
      g.append(svgEl(this.doc, "rect", { x: panel.x, y: panel.y, width: panel.w, height: panel.h,
        fill: COLORS.panel }));
      const title = svgEl(this.doc, "text", { x: panel.x + panel.w / 2, y: panel.y + CHART_STYLE.titleHeight / 2,
        "text-anchor": "middle", "dominant-baseline": "middle", "font-size": 9, fill: "currentColor" });
      title.textContent = panel.title;
      g.append(title);
      for (const tick of panel.ticks) {
        g.append(svgEl(this.doc, "line", { x1: panel.plot.x - 3, x2: panel.plot.x + panel.plot.w, y1: tick.y,
          y2: tick.y, stroke: COLORS.axis, "stroke-opacity": tick.value === 0 ? 1 : 0.25 }));
        const t = svgEl(this.doc, "text", { x: panel.plot.x - 5, y: tick.y, "text-anchor": "end",
          "dominant-baseline": "middle", "font-size": 9, fill: "currentColor" });
        t.textContent = formatNumber(tick.value, 3);
        g.append(t);
      }
      for (const bar of panel.bars) {
        const rect = svgEl(this.doc, "rect", { x: bar.x, y: bar.y, width: bar.w,
          height: Math.max(bar.h, bar.value > 0 ? 1 : 0), fill: bar.value < 0 ? COLORS.barNegative : COLORS.bar,
          "data-face": bar.label, "data-value": bar.value });
        g.append(rect);
        if (bar.w >= 18) {
          const v = svgEl(this.doc, "text", { x: bar.x + bar.w / 2, y: bar.y - 2, "text-anchor": "middle",
            "font-size": 9, fill: "currentColor" });
          v.textContent = formatNumber(bar.value, 2);
          g.append(v);
        }
        const label = svgEl(this.doc, "text", { x: 0, y: 0, "text-anchor": "end", "dominant-baseline": "middle",
          "font-size": 9, fill: "currentColor",
          transform: `translate(${bar.labelX} ${bar.labelY}) rotate(-90)` });
        label.textContent = clipLabel(bar.label, maxChars);
        g.append(label);
      }
      svg.append(g);
    });
    if (layout.hidden) {
      const more = svgEl(this.doc, "text", { x: 0, y: layout.height + 10, "font-size": 10, fill: COLORS.axis });
      more.textContent = `+${layout.hidden} more blends not shown`;
      svg.append(more);
    }
    this.chartBox.append(svg);
  }

  /** Height the panel needs at `width`: slider rows, status line and chart. */
  height(width) {
    const status = this.status.text ? STATUS_HEIGHT : 0;
    const chart = this.chart ? chartHeight(this.chart.weights, Math.max(CHART_STYLE.minPanelWidth, width)) + 4 : 0;
    return 2 * PADDING + this.names.length * ROW_HEIGHT + status + chart + 4;
  }
}
