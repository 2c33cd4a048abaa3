// The dependency graph: the server's Graphviz SVG, sanitised by DOMPurify and inlined (so
// nodes are clickable), with pan and zoom on its viewBox. Redrawn only when the SVG
// changes; the view is kept.

import { ApiError } from "./api.js";
import { esc } from "./format.js";

const DOMPurify = window.DOMPurify; // vendor/dompurify, loaded by index.html

// DOMPurify's SVG profile, without what the graph never needs: styles (the page's CSP refuses
// them), links and images (nothing may point or load elsewhere).
const PURIFY = {
  USE_PROFILES: { svg: true, svgFilters: true },
  FORBID_TAGS: ["style", "image", "use"],
  FORBID_ATTR: ["style", "href", "xlink:href"],
  RETURN_DOM_FRAGMENT: true,
};

export class GraphView {
  constructor(container, onSelect) {
    this.container = container;
    this.onSelect = onSelect;
    this.source = "";
    this.aoi = null;
    this.svg = null;
    this.home = null;
    this.selected = null;
    this.bindEvents();
  }

  async load(aoi, fetchSvg) {
    const sameAoi = aoi === this.aoi;
    this.aoi = aoi;
    let text;
    try {
      text = await fetchSvg(aoi);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw error;
      const reason = error instanceof ApiError && (error.status === 400 || error.status === 503) ? error.message : `Could not draw the graph: ${error.message}`;
      if (this.source !== `error:${reason}`) this.container.innerHTML = `<div class="note">${esc(reason)}</div>`;
      this.source = `error:${reason}`;
      this.svg = null;
      return;
    }
    if (text === this.source && sameAoi) return;
    const keepView = sameAoi && this.svg ? this.svg.getAttribute("viewBox") : null;
    this.source = text;
    const svg = DOMPurify.sanitize(text, PURIFY).querySelector("svg");
    if (!svg) {
      this.container.innerHTML = `<div class="note">The server sent an unreadable graph.</div>`;
      return;
    }
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    this.svg = svg;
    this.home = this.svg.getAttribute("viewBox");
    this.container.replaceChildren(this.svg);
    if (keepView) this.svg.setAttribute("viewBox", keepView);
    else this.fit();
    this.select(this.selected?.kind, this.selected?.id);
  }

  fit() {
    if (this.svg && this.home) this.svg.setAttribute("viewBox", this.home);
  }

  select(kind, id) {
    this.selected = kind ? { kind, id } : null;
    if (!this.svg) return;
    for (const node of this.svg.querySelectorAll(".sel")) node.classList.remove("sel");
    if (kind) this.svg.querySelector(`[id="gv-${kind}-${id}"]`)?.classList.add("sel");
  }

  viewBox() {
    return this.svg.getAttribute("viewBox").split(/[\s,]+/).map(Number);
  }

  bindEvents() {
    let drag = null;
    this.container.addEventListener("pointerdown", (event) => {
      if (!this.svg) return;
      drag = { x: event.clientX, y: event.clientY, box: this.viewBox(), moved: false };
      this.container.setPointerCapture(event.pointerId);
    });
    this.container.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (!drag.moved) return;
      const [x, y, w, h] = drag.box;
      const rect = this.container.getBoundingClientRect();
      const k = Math.max(w / rect.width, h / rect.height);
      this.svg.setAttribute("viewBox", `${x - dx * k} ${y - dy * k} ${w} ${h}`);
    });
    this.container.addEventListener("pointerup", (event) => {
      const wasDrag = drag && drag.moved;
      drag = null;
      if (wasDrag) return;
      const target = document.elementFromPoint(event.clientX, event.clientY);
      const node = target && target.closest && target.closest(".node, .cluster");
      const match = node && /^gv-(scene|tile)-(\d+)$/.exec(node.id);
      if (match) this.onSelect(match[1], Number(match[2]));
    });
    this.container.addEventListener(
      "wheel",
      (event) => {
        if (!this.svg) return;
        event.preventDefault();
        const [x, y, w, h] = this.viewBox();
        const rect = this.container.getBoundingClientRect();
        const k = Math.max(w / rect.width, h / rect.height);
        // The point under the cursor, in viewBox units (the drawing is centred by "meet").
        const px = x + (event.clientX - rect.left - (rect.width - w / k) / 2) * k;
        const py = y + (event.clientY - rect.top - (rect.height - h / k) / 2) * k;
        const factor = Math.exp(event.deltaY * 0.0015);
        const nw = w * factor;
        const nh = h * factor;
        this.svg.setAttribute("viewBox", `${px - (px - x) * factor} ${py - (py - y) * factor} ${nw} ${nh}`);
      },
      { passive: false },
    );
  }
}
