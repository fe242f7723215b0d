// Layout of the blend-weight bar charts drawn on the BlendWeights node. Pure maths, no drawing:
// the node turns these rectangles and labels into canvas calls.

export const CHART_STYLE = {
  minPanelWidth: 130, // panels narrower than this are moved to the next row
  panelHeight: 120, // plot area + title + labels of one panel
  gap: 8,
  titleHeight: 14,
  labelHeight: 44, // room for the face names under the bars
  axisWidth: 26, // room for the tick values left of the bars
  barGap: 0.2, // fraction of each bar slot left empty
  maxPanels: 12,
};

/** Smallest "nice" number (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 7.5 x 10^k) at or above `value`; 1 for nothing positive. */
export function niceCeil(value) {
  if (!(value > 0) || !Number.isFinite(value)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10]) {
    const candidate = step * power;
    if (candidate >= value * (1 - 1e-9)) return Number(candidate.toPrecision(12));
  }
  return 10 * power;
}

/**
 * Panels, bars, ticks and labels for `weights` ([[w per face] per image]) inside a box `width` wide
 * whose top-left corner is (x0, y0). All panels share one axis maximum so images compare at a glance.
 * Returns {panels, height, hidden, axisMax}: `hidden` counts images past style.maxPanels.
 */
export function layoutCharts(weights, names, width, x0 = 0, y0 = 0, style = CHART_STYLE) {
  const rows = (weights ?? []).filter((w) => Array.isArray(w) && w.length);
  if (!rows.length) return { panels: [], height: 0, hidden: 0, axisMax: 1 };
  const shown = rows.slice(0, style.maxPanels);
  const largest = Math.max(0, ...shown.flat().filter(Number.isFinite));
  const axisMax = niceCeil(largest * 1.1); // headroom for the value written above the tallest bar
  const cols = Math.max(1, Math.min(shown.length, Math.floor((width + style.gap) / (style.minPanelWidth + style.gap))));
  const panelWidth = (width - style.gap * (cols - 1)) / cols;
  const plotHeight = style.panelHeight - style.titleHeight - style.labelHeight;
  const panels = shown.map((row, index) => {
    const col = index % cols;
    const line = Math.floor(index / cols);
    const x = x0 + col * (panelWidth + style.gap);
    const y = y0 + line * (style.panelHeight + style.gap);
    const plot = { x: x + style.axisWidth, y: y + style.titleHeight, w: panelWidth - style.axisWidth, h: plotHeight };
    const slot = plot.w / row.length;
    const bars = row.map((value, i) => {
      const v = Number.isFinite(value) ? Math.max(0, value) : 0;
      const h = (Math.min(v, axisMax) / axisMax) * plot.h;
      return {
        x: plot.x + i * slot + (slot * style.barGap) / 2,
        y: plot.y + plot.h - h,
        w: slot * (1 - style.barGap),
        h,
        value,
        label: names?.[i] ?? `face ${i + 1}`,
        labelX: plot.x + (i + 0.5) * slot,
        labelY: plot.y + plot.h + 4,
      };
    });
    const ticks = [0, axisMax / 2, axisMax].map((value) => ({
      value,
      y: plot.y + plot.h - (value / axisMax) * plot.h,
    }));
    return { x, y, w: panelWidth, h: style.panelHeight, title: `blend ${index + 1}`, plot, bars, ticks, slot };
  });
  const lines = Math.ceil(shown.length / cols);
  const height = lines * style.panelHeight + (lines - 1) * style.gap;
  return { panels, height, hidden: rows.length - shown.length, axisMax };
}

/** Height the chart area needs at a given width (0 when there is nothing to draw). */
export function chartHeight(weights, width, style = CHART_STYLE) {
  const { height, hidden } = layoutCharts(weights, [], width, 0, 0, style);
  return height + (hidden ? 16 : 0);
}

/** `text` cut to fit `maxChars` characters, ending in an ellipsis when cut. */
export function clipLabel(text, maxChars) {
  const s = String(text);
  if (maxChars < 2) return s.slice(0, Math.max(0, maxChars));
  return s.length <= maxChars ? s : `${s.slice(0, maxChars - 1)}…`;
}
