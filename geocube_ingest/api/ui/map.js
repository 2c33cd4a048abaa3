// Footprints of scenes and tiles on a plain lon/lat map with a graticule: no basemap, no
// network. Equirectangular around the data's centre latitude (x scaled by cos φ0), which
// keeps shapes true at the scale of an AOI. Pan with the mouse, zoom with the wheel.

import { URGENCY, day, esc } from "./format.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const STEPS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 45, 90];
const NICE_KM = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000];

function el(name, attrs = {}) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

function rings(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return geometry.coordinates;
  if (geometry.type === "MultiPolygon") return geometry.coordinates.flat();
  if (geometry.type === "GeometryCollection") return geometry.geometries.flatMap(rings);
  return [];
}

function formatDegrees(value, step, positive, negative) {
  const decimals = step >= 1 ? 0 : Math.min(3, Math.ceil(-Math.log10(step) - 1e-9));
  const hemisphere = value < 0 ? negative : positive;
  return `${Math.abs(value).toFixed(decimals)}°${value === 0 ? "" : hemisphere}`;
}

export class FootprintMap {
  constructor(container, tooltip, onSelect) {
    this.container = container;
    this.tooltip = tooltip;
    this.onSelect = onSelect;
    this.features = [];
    this.signature = "";
    this.filter = { scenes: true, tiles: true, date: "" };
    this.selected = null;
    this.view = null; // {s, tx, ty}: screen = projected * s + t
    this.svg = el("svg", { role: "img" });
    this.grid = el("g");
    this.layer = el("g");
    this.overlay = el("g");
    this.svg.append(this.grid, this.layer, this.overlay);
    this.empty = document.createElement("div");
    this.empty.className = "map-empty";
    this.empty.textContent = "Loading footprints…";
    this.container.append(this.svg, this.empty);
    this.bindEvents();
    new ResizeObserver(() => this.redrawFrame()).observe(container);
  }

  // -- data -----------------------------------------------------------------------

  setData(collection, { refit = false } = {}) {
    const features = collection.features || [];
    const signature = JSON.stringify([collection.aoi, features.map((f) => [f.id, f.properties.status, f.properties.message])]);
    const changed = signature !== this.signature || refit;
    this.signature = signature;
    this.features = features;
    this.area = collection.aoi || null;
    if (!changed) return;
    if (refit || !this.projection) this.setProjection(collection.bbox);
    this.drawFeatures();
    if (refit || !this.view) this.fit();
    else this.redrawFrame();
  }

  dates() {
    return [...new Set(this.features.filter((f) => f.properties.kind === "scene").map((f) => day(f.properties.date)))]
      .filter(Boolean)
      .sort();
  }

  setFilter(filter) {
    this.filter = { ...this.filter, ...filter };
    this.drawFeatures();
  }

  select(kind, id) {
    this.selected = kind ? `${kind}-${id}` : null;
    for (const node of this.layer.querySelectorAll(".sel")) node.classList.remove("sel");
    if (this.selected) {
      const node = this.layer.querySelector(`[data-key="${this.selected}"]`);
      if (node) {
        node.classList.add("sel");
        node.parentNode.append(node); // on top
      }
    }
  }

  setProjection(bbox) {
    const [west, south, east, north] = bbox || [-180, -60, 180, 75];
    this.lon0 = (west + east) / 2;
    this.lat0 = (south + north) / 2;
    this.kx = Math.max(0.05, Math.cos((this.lat0 * Math.PI) / 180));
    this.projection = bbox || null;
  }

  project(lon, lat) {
    return [(lon - this.lon0) * this.kx, this.lat0 - lat];
  }

  unproject(x, y) {
    return [x / this.kx + this.lon0, this.lat0 - y];
  }

  // -- drawing --------------------------------------------------------------------

  // With all dates shown, the acquisitions of one place (same tile id: an S1 burst) are
  // drawn once, in the most urgent status among them, so the map reads as "where to act".
  visibleFeatures() {
    const byUrgency = (a, b) =>
      URGENCY[a.properties.status] - URGENCY[b.properties.status] ||
      String(a.properties.date).localeCompare(String(b.properties.date));
    const chosen = this.features
      .filter((f) => (f.properties.kind === "scene" ? this.filter.scenes : this.filter.tiles))
      .filter((f) => !this.filter.date || day(f.properties.date) === this.filter.date);
    let tiles = chosen.filter((f) => f.properties.kind === "tile");
    if (!this.filter.date) {
      const top = new Map();
      for (const f of tiles) {
        const seen = top.get(f.properties.source_id);
        if (!seen || byUrgency(seen, f) < 0) top.set(f.properties.source_id, f);
      }
      tiles = [...top.values()];
    }
    const scenes = chosen.filter((f) => f.properties.kind === "scene");
    return [...tiles.sort(byUrgency), ...scenes.sort(byUrgency)];
  }

  drawFeatures() {
    const paths = [];
    for (const feature of this.visibleFeatures()) {
      const p = feature.properties;
      const d = this.pathOf(feature.geometry);
      if (!d) continue;
      const key = `${p.kind}-${p.id}`;
      const path = el("path", { d, class: `fp ${p.kind} f-${p.status}`, "data-key": key });
      if (key === this.selected) path.classList.add("sel");
      paths.push(path);
    }
    const area = this.pathOf(this.area);
    if (area) paths.push(el("path", { d: area, class: "fp aoi" }));  // on top: the area asked for
    this.layer.replaceChildren(...paths);
    this.empty.textContent = this.features.length ? (paths.length ? "" : "Nothing to show with these filters.") : "No footprints for this AOI.";
    this.empty.hidden = paths.length > 0;
  }

  pathOf(geometry) {
    if (!geometry) return "";
    let d = "";
    for (const ring of rings(geometry)) {
      d += ring.map(([lon, lat], i) => {
        const [x, y] = this.project(lon, lat);
        return `${i ? "L" : "M"}${x.toFixed(6)} ${y.toFixed(6)}`;
      }).join("") + "Z";
    }
    return d;
  }

  fit() {
    const { width, height } = this.container.getBoundingClientRect();
    if (!width || !height) return;
    if (!this.projection) {
      this.view = { s: 1, tx: width / 2, ty: height / 2 };
      this.redrawFrame();
      return;
    }
    const [west, south, east, north] = this.projection;
    const [x0, y0] = this.project(west, north);
    const [x1, y1] = this.project(east, south);
    const w = Math.max(x1 - x0, 1e-6);
    const h = Math.max(y1 - y0, 1e-6);
    const s = Math.min((width - 70) / w, (height - 50) / h);
    this.view = { s, tx: width / 2 - ((x0 + x1) / 2) * s + 14, ty: height / 2 - ((y0 + y1) / 2) * s - 8 };
    this.redrawFrame();
  }

  redrawFrame() {
    if (!this.view) return;
    const { s, tx, ty } = this.view;
    this.layer.setAttribute("transform", `matrix(${s} 0 0 ${s} ${tx} ${ty})`);
    this.drawGraticule();
    this.drawScaleBar();
  }

  drawGraticule() {
    const { width, height } = this.container.getBoundingClientRect();
    if (!width || !height || this.lon0 === undefined) return;
    const { s, tx, ty } = this.view;
    const [lonA, latA] = this.unproject((0 - tx) / s, (0 - ty) / s);
    const [lonB, latB] = this.unproject((width - tx) / s, (height - ty) / s);
    const span = Math.max(Math.abs(lonB - lonA), Math.abs(latA - latB));
    const step = STEPS.find((candidate) => span / candidate <= 7) || 90;
    const nodes = [];
    const labels = [];
    const toScreen = (lon, lat) => {
      const [x, y] = this.project(lon, lat);
      return [x * s + tx, y * s + ty];
    };
    for (let lon = Math.ceil(lonA / step) * step; lon <= lonB + 1e-9; lon += step) {
      const [x] = toScreen(lon, 0);
      const px = Math.round(x) + 0.5;
      nodes.push(el("line", { x1: px, y1: 0, x2: px, y2: height, class: "grat" }));
      labels.push(["x", px, formatDegrees(+lon.toFixed(6), step, "E", "W")]);
    }
    for (let lat = Math.ceil(latB / step) * step; lat <= latA + 1e-9; lat += step) {
      const [, y] = toScreen(0, lat);
      const py = Math.round(y) + 0.5;
      nodes.push(el("line", { x1: 0, y1: py, x2: width, y2: py, class: "grat" }));
      labels.push(["y", py, formatDegrees(+lat.toFixed(6), step, "N", "S")]);
    }
    for (const [axis, pos, text] of labels) {
      const label = el("text", { class: "grat-label" });
      label.textContent = text;
      if (axis === "x") {
        label.setAttribute("x", pos + 4);
        label.setAttribute("y", height - 6);
      } else {
        label.setAttribute("x", 6);
        label.setAttribute("y", pos - 4);
      }
      nodes.push(label);
    }
    this.grid.replaceChildren(...nodes);
  }

  drawScaleBar() {
    const { height } = this.container.getBoundingClientRect();
    const kmPerPixel = 111.32 / this.view.s;
    const km = NICE_KM.find((candidate) => candidate / kmPerPixel >= 70) || NICE_KM[NICE_KM.length - 1];
    const length = km / kmPerPixel;
    const x = 64;
    const y = height - 26;
    const group = el("g", { class: "scalebar" });
    group.append(
      el("line", { x1: x, y1: y, x2: x + length, y2: y }),
      el("line", { x1: x, y1: y - 4, x2: x, y2: y + 1 }),
      el("line", { x1: x + length, y1: y - 4, x2: x + length, y2: y + 1 }),
    );
    const label = el("text", { x: x + length + 6, y: y + 3 });
    label.textContent = km >= 1 ? `${km} km` : `${km * 1000} m`;
    group.append(label);
    this.overlay.replaceChildren(group);
  }

  // -- interaction ----------------------------------------------------------------

  bindEvents() {
    let drag = null;
    this.svg.addEventListener("pointerdown", (event) => {
      if (!this.view) return;
      drag = { x: event.clientX, y: event.clientY, tx: this.view.tx, ty: this.view.ty, moved: false };
      this.svg.setPointerCapture(event.pointerId);
    });
    this.svg.addEventListener("pointermove", (event) => {
      if (drag) {
        const dx = event.clientX - drag.x;
        const dy = event.clientY - drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
        if (drag.moved) {
          this.view.tx = drag.tx + dx;
          this.view.ty = drag.ty + dy;
          this.hideTooltip();
          this.schedule();
          return;
        }
      }
      this.hover(event);
    });
    this.svg.addEventListener("pointerup", (event) => {
      const wasDrag = drag && drag.moved;
      drag = null;
      if (wasDrag) return;
      const target = this.featureAt(event);
      if (target) this.onSelect(target.properties.kind, target.properties.id);
    });
    this.svg.addEventListener("pointerleave", () => {
      for (const node of this.layer.querySelectorAll(".hl")) node.classList.remove("hl");
      this.hideTooltip();
    });
    this.svg.addEventListener(
      "wheel",
      (event) => {
        if (!this.view) return;
        event.preventDefault();
        const rect = this.svg.getBoundingClientRect();
        const mx = event.clientX - rect.left;
        const my = event.clientY - rect.top;
        const factor = Math.exp(-event.deltaY * 0.0015);
        const s = Math.min(Math.max(this.view.s * factor, 0.5), 2e6);
        const k = s / this.view.s;
        this.view = { s, tx: mx - (mx - this.view.tx) * k, ty: my - (my - this.view.ty) * k };
        this.schedule();
      },
      { passive: false },
    );
  }

  schedule() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = null;
      this.redrawFrame();
    });
  }

  featureAt(event) {
    const node = document.elementFromPoint(event.clientX, event.clientY);
    const key = node && node.getAttribute && node.getAttribute("data-key");
    if (!key) return null;
    return this.features.find((f) => f.id === key) || null;
  }

  hover(event) {
    const feature = this.featureAt(event);
    for (const node of this.layer.querySelectorAll(".hl")) node.classList.remove("hl");
    if (!feature) {
      this.hideTooltip();
      return;
    }
    const p = feature.properties;
    this.layer.querySelector(`[data-key="${feature.id}"]`)?.classList.add("hl");
    const message = p.message ? `<div>${esc(p.message.length > 160 ? `${p.message.slice(0, 157)}…` : p.message)}</div>` : "";
    this.tooltip.innerHTML =
      `<div><b>${p.kind} #${p.id}</b> · ${esc(p.status)} · ${esc(day(p.date))}</div>` +
      `<div class="mono">${esc(p.source_id)}</div>${message}`;
    this.tooltip.hidden = false;
    const x = Math.min(event.clientX + 14, window.innerWidth - 380);
    this.tooltip.style.left = `${x}px`;
    this.tooltip.style.top = `${event.clientY + 14}px`;
  }

  hideTooltip() {
    this.tooltip.hidden = true;
  }
}
