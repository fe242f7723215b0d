// Blend weights text <-> per-face slider values. Pure functions, no ComfyUI imports.
//
// Reads the text the way the BlendWeights node does (facespace/blend.py):
// - by name:     "anna=0.6, bea=0.4"  (faces not named get 0; "name: value" is read too)
// - by position: "0.6, 0.4, 0, 0"     (one bare number per face, training order)
// - empty:       every face weighs the same (an equal share, 1/N, each)
// Entries are separated by commas, semicolons or new lines; names match exactly, else by a unique
// case-insensitive match. Anything the node would refuse is kept verbatim and reported, so
// rewriting the text after a slider move never loses what the user typed.

const SEPARATOR = /[,;\n\r]+/;
// The value never holds "=" or ":", so a name is split off at the last one (names may contain them).
const NAME_VALUE = /^(.+?)\s*[=:]\s*([^=:]+)$/;
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const DECIMALS = 6;

function toNumber(text) {
  const t = text.trim();
  return NUMBER.test(t) && Number.isFinite(Number(t)) ? Number(t) : null;
}

/**
 * Split weights text into entries:
 * {kind: "weight", name, value} | {kind: "bare", value, text} | {kind: "raw", text}.
 */
export function parseWeights(text) {
  const entries = [];
  for (const piece of String(text ?? "").split(SEPARATOR)) {
    const trimmed = piece.trim();
    if (!trimmed) continue;
    const named = NAME_VALUE.exec(trimmed);
    const bare = named ? null : toNumber(trimmed);
    if (named && toNumber(named[2]) !== null) {
      entries.push({ kind: "weight", name: named[1].trim(), value: toNumber(named[2]) });
    } else if (bare !== null) {
      entries.push({ kind: "bare", value: bare, text: trimmed });
    } else {
      entries.push({ kind: "raw", text: trimmed });
    }
  }
  return entries;
}

/** Shortest plain decimal with at most `digits` decimals: 0.5 -> "0.5", 1 -> "1", 1/3 -> "0.333333". */
export function formatNumber(value, digits = DECIMALS) {
  const text = Number(value).toFixed(digits).replace(/\.?0+$/, "");
  return text === "-0" || text === "" ? "0" : text;
}

/** Entries back to text: weights in canonical "name=value" form, anything else as it was written. */
export function formatWeights(entries) {
  return entries.map((e) => (e.kind === "weight" ? `${e.name}=${formatNumber(e.value)}` : e.text)).join(", ");
}

/** Close to Python's str.casefold (upper then lower folds e.g. "ß" to "ss"). */
function caseFold(text) {
  return text.toUpperCase().toLowerCase();
}

/** Index of `name` in `names`: exact match first, then a unique case-insensitive match; -1 if none. */
export function resolveName(name, names) {
  const exact = names.indexOf(name);
  if (exact >= 0) return exact;
  const folded = caseFold(name);
  const matches = names.flatMap((n, i) => (caseFold(n) === folded ? [i] : []));
  return matches.length === 1 ? matches[0] : -1;
}

function isPositional(entries) {
  return entries.length > 0 && entries.every((e) => e.kind === "bare");
}

/**
 * What the sliders should show for `text` given the FaceSpace's face names.
 * values: one number per known name; form: "empty" | "positional" | "named";
 * unknown: names the FaceSpace lacks; duplicates: faces named more than once (the first wins);
 * malformed: pieces that are not name=number (bare numbers among named ones included);
 * negative: faces with a value below zero; countMismatch: [given, expected] for a wrong positional count;
 * allZero: no face has a weight (the node refuses that).
 */
export function readSliderState(text, names) {
  const entries = parseWeights(text);
  const state = {
    values: Object.fromEntries(names.map((n) => [n, 0])),
    form: "named",
    unknown: [],
    duplicates: [],
    malformed: [],
    negative: [],
    countMismatch: null,
    allZero: false,
  };
  if (!entries.length) {
    state.form = "empty";
    for (const n of names) state.values[n] = 1 / names.length;
    return state;
  }
  if (isPositional(entries)) {
    state.form = "positional";
    if (entries.length === names.length) names.forEach((n, i) => (state.values[n] = entries[i].value));
    else state.countMismatch = [entries.length, names.length];
  } else {
    const seen = new Set();
    for (const e of entries) {
      if (e.kind !== "weight") {
        state.malformed.push(e.text);
        continue;
      }
      const index = resolveName(e.name, names);
      if (index < 0) {
        if (!state.unknown.includes(e.name)) state.unknown.push(e.name);
      } else if (seen.has(index)) {
        if (!state.duplicates.includes(names[index])) state.duplicates.push(names[index]);
      } else {
        seen.add(index);
        state.values[names[index]] = e.value;
      }
    }
  }
  state.negative = names.filter((n) => state.values[n] < 0);
  state.allZero = !state.countMismatch && names.every((n) => state.values[n] === 0);
  return state;
}

/** Canonical text giving each name its value, in the names' order. */
export function canonicalText(names, values) {
  return formatWeights(names.map((name) => ({ kind: "weight", name, value: values[name] ?? 0 })));
}

/**
 * Text after the slider of `name` moved to `value`. Named text: that face's entry changes in place
 * (or is appended) and everything else is kept as typed. Empty or positional text first becomes
 * the canonical named form with the values it meant, so the other faces keep their weights.
 */
export function applySliderChange(text, names, name, value) {
  const entries = parseWeights(text);
  if (!entries.length || (isPositional(entries) && entries.length === names.length)) {
    const values = readSliderState(text, names).values;
    values[name] = value;
    return canonicalText(names, values);
  }
  const target = entries.find((e) => e.kind === "weight" && names[resolveName(e.name, names)] === name);
  if (target) target.value = value;
  else entries.push({ kind: "weight", name, value });
  return formatWeights(entries);
}

/**
 * The share of the blend each face gets, as the node uses it: the values divided by their sum when
 * `normalize` is on, else the values themselves. null when the sum is not positive (the node refuses it).
 */
export function blendShares(values, names, normalize = true) {
  const raw = names.map((n) => Number(values[n] ?? 0));
  if (!normalize) return raw;
  const total = raw.reduce((a, b) => a + b, 0);
  return total > 0 ? raw.map((v) => v / total) : null;
}

/** Upper end of the slider range: at least 1, and high enough to show every value in the text. */
export function sliderMax(values) {
  const top = Math.max(1, ...Object.values(values).filter(Number.isFinite));
  return Math.ceil(top);
}

/** One line telling the user what in the text the node will refuse, or "" when all is well. */
export function describeProblems(state) {
  const parts = [];
  if (state.unknown.length) parts.push(`unknown: ${state.unknown.join(", ")}`);
  if (state.duplicates.length) parts.push(`repeated: ${state.duplicates.join(", ")}`);
  if (state.malformed.length) parts.push(`not name=value: ${state.malformed.join(", ")}`);
  if (state.negative.length) parts.push(`negative: ${state.negative.join(", ")}`);
  if (state.countMismatch) parts.push(`${state.countMismatch[0]} values for ${state.countMismatch[1]} faces`);
  if (state.allZero) parts.push("all weights are 0");
  return parts.join("; ");
}

/** True when two name lists hold the same names in the same order. */
export function sameNames(a, b) {
  return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((n, i) => n === b[i]);
}
