// Footprints of scenes and tiles on a Leaflet map (vendor/leaflet, loaded by index.html):
// SVG paths coloured by status with CSS classes, a graticule and a scale bar. No basemap
// unless the operator set one (api.basemap_url): by default nothing loads from outside.

import { URGENCY, day, esc } from "./format.js";

const L = window.L;
const DOMPurify = window.DOMPurify;
const STEPS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 45, 90];
const WORLD = [[-60, -180], [75, 180]];

function formatDegrees(value, step, positive, negative) {
  const decimals = step >= 1 ? 0 : Math.min(3, Math.ceil(-Math.log10(step) - 1e-9));
  const hemisphere = value < 0 ? negative : positive;
  return `${Math.abs(value).toFixed(decimals)}°${value === 0 ? "" : hemisphere}`;
}

function tooltip(p) {
  const message = p.message ? `<div>${esc(p.message.length > 160 ? `${p.message.slice(0, 157)}…` : p.message)}</div>` : "";
  return (
    `<div><b>${esc(p.kind)} #${esc(p.id)}</b> · ${esc(p.status)} · ${esc(day(p.date))}</div>` +
    `<div class="mono">${esc(p.source_id)}</div>${message}`
  );
}

// Meridians and parallels at a round step for the view, labelled along the bottom and left edges.
class Graticule {
  constructor(map) {
    this.map = map;
    map.createPane("graticule");
    this.group = L.layerGroup().addTo(map);
    map.on("moveend resize", () => this.draw());
  }

  draw() {
    const bounds = this.map.getBounds();
    const [west, east, south, north] = [bounds.getWest(), bounds.getEast(), bounds.getSouth(), bounds.getNorth()];
    const step = STEPS.find((candidate) => Math.max(east - west, north - south) / candidate <= 7) || 90;
    const line = (points) => L.polyline(points, { pane: "graticule", interactive: false, className: "grat" });
    const label = (at, text, axis) => {
      const icon = L.divIcon({ className: `grat-label ${axis}`, html: text, iconSize: null });
      return L.marker(at, { pane: "graticule", interactive: false, keyboard: false, icon });
    };
    const layers = [];
    for (let lon = Math.ceil(west / step) * step; lon <= east + 1e-9; lon += step) {
      const shown = ((((lon + 180) % 360) + 360) % 360) - 180;
      layers.push(line([[south, lon], [north, lon]]), label([south, lon], formatDegrees(+shown.toFixed(6), step, "E", "W"), "lon"));
    }
    for (let lat = Math.ceil(south / step) * step; lat <= north + 1e-9; lat += step) {
      layers.push(line([[lat, west], [lat, east]]), label([lat, west], formatDegrees(+lat.toFixed(6), step, "N", "S"), "lat"));
    }
    this.group.clearLayers();
    for (const layer of layers) this.group.addLayer(layer);
  }
}

export class FootprintMap {
  constructor(container, onSelect) {
    this.container = container;
    this.onSelect = onSelect;
    this.features = [];
    this.signature = "";
    this.filter = { scenes: true, tiles: true, date: "" };
    this.selected = null;
    this.bounds = null;
    this.fitted = false;
    this.layers = new Map(); // "tile-12" → its Leaflet layer
    const view = { zoomSnap: 0.25, zoomDelta: 0.5, wheelPxPerZoomLevel: 120, maxZoom: 22 };
    this.map = L.map(container, { ...view, zoomControl: false, attributionControl: false });
    L.control.attribution({ position: "topright" }).addTo(this.map); // the bottom edge holds the longitudes
    this.map.createPane("area"); // the AOI's outline above the footprints, never in the way of a click
    this.footprints = L.layerGroup().addTo(this.map);
    L.control.scale({ imperial: false, position: "bottomleft" }).addTo(this.map);
    this.graticule = new Graticule(this.map);
    this.map.setView([20, 0], 1);
    this.empty = document.createElement("div");
    this.empty.className = "map-empty";
    this.empty.textContent = "Loading footprints…";
    this.container.append(this.empty);
    new ResizeObserver(() => {
      this.map.invalidateSize();
      if (!this.fitted && this.features.length) this.fit();
    }).observe(container);
  }

  // The operator's basemap, if any (GET /page/config); its attribution may hold a link.
  setBasemap({ basemap_url: url, basemap_attribution: attribution } = {}) {
    if (this.basemap || !url) return;
    const options = { maxNativeZoom: 19, maxZoom: 22, attribution: attribution ? DOMPurify.sanitize(attribution) : "" };
    this.basemap = L.tileLayer(url, options).addTo(this.map);
  }

  // -- data -----------------------------------------------------------------------

  setData(collection, { refit = false } = {}) {
    const features = collection.features || [];
    const signature = JSON.stringify([collection.aoi, features.map((f) => [f.id, f.properties.status, f.properties.message])]);
    const changed = signature !== this.signature || refit;
    this.signature = signature;
    this.features = features;
    this.area = collection.aoi || null;
    this.bounds = collection.bbox || null;
    if (changed) this.draw();
    if (refit || !this.fitted) this.fit();
  }

  dates() {
    return [...new Set(this.features.filter((f) => f.properties.kind === "scene").map((f) => day(f.properties.date)))]
      .filter(Boolean)
      .sort();
  }

  setFilter(filter) {
    this.filter = { ...this.filter, ...filter };
    this.draw();
  }

  select(kind, id) {
    this.layers.get(this.selected)?.getElement()?.classList.remove("sel");
    this.selected = kind ? `${kind}-${id}` : null;
    const layer = this.layers.get(this.selected);
    layer?.getElement()?.classList.add("sel");
    layer?.bringToFront();
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

  draw() {
    this.footprints.clearLayers();
    this.layers.clear();
    const shown = this.visibleFeatures().filter((f) => f.geometry);
    // Colours come from the CSS classes (fp, tile|scene, f-STATUS); scenes are outlines, clickable on the line.
    const style = (f) => {
      const p = f.properties;
      const selected = `${p.kind}-${p.id}` === this.selected ? " sel" : "";
      return { className: `fp ${p.kind} f-${p.status}${selected}`, fill: p.kind === "tile", fillOpacity: 1, opacity: 1 };
    };
    this.footprints.addLayer(L.geoJSON(shown, { style, onEachFeature: (f, layer) => this.bind(f.properties, layer) }));
    if (this.area) this.footprints.addLayer(L.geoJSON(this.area, { pane: "area", interactive: false, style: { className: "fp aoi" } }));
    this.layers.get(this.selected)?.bringToFront();
    this.empty.textContent = this.features.length ? "Nothing to show with these filters." : "No footprints for this AOI.";
    this.empty.hidden = shown.length > 0 || Boolean(this.area);
  }

  bind(p, layer) {
    const key = `${p.kind}-${p.id}`;
    this.layers.set(key, layer);
    layer.on("add", () => layer.getElement()?.setAttribute("data-key", key));
    layer.bindTooltip(() => tooltip(p), { sticky: true, direction: "right", offset: [14, 14], className: "fp-tip", opacity: 1 });
    layer.on("click", () => this.onSelect(p.kind, p.id));
  }

  fit() {
    this.map.invalidateSize(false);
    const size = this.map.getSize();
    if (!size.x || !size.y) return; // hidden: fitted once shown
    this.fitted = true;
    if (!this.bounds) {
      this.map.fitBounds(WORLD, { animate: false });
      return;
    }
    const [west, south, east, north] = this.bounds;
    this.map.fitBounds([[south, west], [north, east]], { padding: [28, 28], animate: false });
  }
}
