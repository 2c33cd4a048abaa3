// Small formatting helpers shared by the views.

export const STATUSES = ["NEW", "PENDING", "DONE", "RETRY", "FAILED"];
// Drawing order on the map: the most urgent status ends on top.
export const URGENCY = { FAILED: 0, DONE: 1, NEW: 2, PENDING: 3, RETRY: 4 };
export const COLORS = { NEW: "#8a94a6", PENDING: "#2f6fde", RETRY: "#e48a00", DONE: "#2e9e53", FAILED: "#d93a3a" };

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

export function badge(status) {
  if (!status) return `<span class="badge st-EMPTY">EMPTY</span>`;
  return `<span class="badge st-${esc(status)}">${esc(status)}</span>`;
}

export function day(value) {
  if (!value) return "";
  return String(value).slice(0, 10);
}

export function dateTime(value) {
  if (!value) return "";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function ago(value) {
  const seconds = (Date.now() - new Date(value).getTime()) / 1000;
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

export function plural(n, word) {
  return `${n.toLocaleString()} ${word}${n === 1 ? "" : "s"}`;
}

// An SVG bar (attributes, not inline styles: the page's CSP forbids style attributes).
export function statusBar(counts, big = false) {
  const total = counts.total || 0;
  let x = 0;
  const parts = ["DONE", "PENDING", "NEW", "RETRY", "FAILED"]
    .filter((s) => counts[s.toLowerCase()] > 0)
    .map((s) => {
      const width = (100 * counts[s.toLowerCase()]) / total;
      const rect = `<rect class="seg-${s}" x="${x.toFixed(3)}" width="${width.toFixed(3)}" height="1"></rect>`;
      x += width;
      return rect;
    })
    .join("");
  return `<svg class="bar${big ? " big" : ""}" viewBox="0 0 100 1" preserveAspectRatio="none" role="img" aria-label="${esc(summaryText(counts))}">${parts}</svg>`;
}

export function summaryText(counts) {
  return STATUSES.filter((s) => counts[s.toLowerCase()] > 0)
    .map((s) => `${counts[s.toLowerCase()]} ${s.toLowerCase()}`)
    .join(", ") || "empty";
}

// A stable text of the parts of a value that matter for redrawing (skips identical refreshes).
export function signature(value) {
  return JSON.stringify(value);
}
