// The workflow page: state in the URL hash, a refresh loop that only repaints what
// changed, and the operator's actions (retry, fail, force, retry all) behind a confirmation.

import { ApiError, api, getToken, onUnauthorized, setToken } from "./api.js";
import { askToken, confirmAction, toast } from "./dialogs.js";
import { renderDrawer } from "./drawer.js";
import { STATUSES, badge, day, esc, plural, signature, statusBar } from "./format.js";
import { GraphView } from "./graph.js";
import { FootprintMap } from "./map.js";
import { patchRows, renderHead, sceneRow, tileRow } from "./tables.js";

const PAGE_SIZE = 50;
const FULL_RELOAD_EVERY = 6; // ticks: lists are re-read even when the counts did not move
const BIG_AOI = 2000; // tiles
const BIG_MAP_EVERY = 30000; // ms

const $ = (id) => document.getElementById(id);

const state = {
  aois: [],
  aoi: null,
  summary: null,
  tab: "tiles",
  status: "",
  page: 0,
  scene: null,
  selected: null,
  every: 5,
  total: 0,
  ticks: 0,
};
const memo = { aois: "", summary: "", drawer: "", mapAt: 0, pageConfig: false };

const map = new FootprintMap($("map"), (kind, id) => select(kind, id));
const graph = new GraphView($("graph"), (kind, id) => select(kind, id));

// -- URL state ------------------------------------------------------------------------

function readHash() {
  const match = /^#\/aoi\/([^?]+)(?:\?(.*))?$/.exec(location.hash);
  if (!match) return { aoi: null };
  const params = new URLSearchParams(match[2] || "");
  const sel = /^(scene|tile)-(\d+)$/.exec(params.get("sel") || "");
  return {
    aoi: decodeURIComponent(match[1]),
    tab: params.get("tab") === "scenes" ? "scenes" : "tiles",
    status: STATUSES.includes(params.get("status")) ? params.get("status") : "",
    page: Math.max(0, Number.parseInt(params.get("page") || "0", 10) || 0),
    scene: params.get("scene") ? Number(params.get("scene")) : null,
    selected: sel ? { kind: sel[1], id: Number(sel[2]) } : null,
  };
}

function writeHash() {
  if (!state.aoi) {
    history.replaceState(null, "", "#/");
    return;
  }
  const params = new URLSearchParams();
  if (state.tab !== "tiles") params.set("tab", state.tab);
  if (state.status) params.set("status", state.status);
  if (state.page) params.set("page", state.page);
  if (state.scene) params.set("scene", state.scene);
  if (state.selected) params.set("sel", `${state.selected.kind}-${state.selected.id}`);
  const query = params.toString();
  history.replaceState(null, "", `#/aoi/${encodeURIComponent(state.aoi)}${query ? `?${query}` : ""}`);
}

// -- sidebar ------------------------------------------------------------------------

function renderAois() {
  const filter = $("aoi-filter").value.trim().toLowerCase();
  // GET /aoi/ answers upstream's {ID, status}; details=true adds the counts.
  const shown = state.aois.filter((a) => a.ID.toLowerCase().includes(filter));
  const html = shown
    .map((a) => {
      const selected = a.ID === state.aoi ? " selected" : "";
      return (
        `<li><a class="aoi-item${selected}" href="#/aoi/${encodeURIComponent(a.ID)}" data-aoi="${esc(a.ID)}">` +
        `<div class="aoi-item-top"><span class="aoi-item-name" title="${esc(a.ID)}">${esc(a.ID)}</span>${badge(a.status)}</div>` +
        `<div class="aoi-bar">${statusBar(a.tiles)}</div>` +
        `<div class="aoi-item-sub"><span>${plural(a.scenes.total, "scene")}</span><span>${a.tiles.done.toLocaleString()} / ${plural(a.tiles.total, "tile")} done</span></div>` +
        `</a></li>`
      );
    })
    .join("");
  const sig = html;
  if (sig !== memo.aois) {
    $("aoi-list").innerHTML = html || `<li class="muted">No AOI${filter ? " matches" : ""}.</li>`;
    memo.aois = sig;
  }
  $("aoi-count").textContent = state.aois.length ? String(state.aois.length) : "";
  $("welcome-empty").hidden = state.aois.length > 0;
}

// -- summary ------------------------------------------------------------------------

function countsCard(kind, counts) {
  const cells = STATUSES.map((s) => {
    const n = counts[s.toLowerCase()];
    return (
      `<button class="count c-${s}${n ? "" : " zero"}" data-filter-kind="${kind}" data-filter-status="${s}" type="button">` +
      `<b>${n.toLocaleString()}</b><span>${s.toLowerCase()}</span></button>`
    );
  }).join("");
  const done = counts.total ? Math.round((100 * counts.done) / counts.total) : 0;
  return (
    `<div class="counts-top"><h2>${kind === "scenes" ? "Scenes · downloads" : "Tiles · processing"}</h2>` +
    `<span class="muted">${done}% done</span></div>` +
    `<div class="counts-total">${counts.total.toLocaleString()}<small>${kind}</small></div>` +
    statusBar(counts, true) +
    `<div class="counts-grid">${cells}</div>`
  );
}

function renderSummary() {
  const s = state.summary;
  $("aoi-name").innerHTML = `${esc(s.aoi)} ${badge(s.status)}`;
  const range = s.first_date ? `${esc(s.first_date)} → ${esc(s.last_date)}` : "no acquisition yet";
  $("aoi-meta").innerHTML = `${range} · ${s.root_tiles.toLocaleString()} time series`;
  $("scene-counts").innerHTML = countsCard("scenes", s.scenes);
  $("tile-counts").innerHTML = countsCard("tiles", s.tiles);
  const toRetry = s.scenes.retry + s.tiles.retry;
  $("retry-all").textContent = toRetry ? `Retry all (${toRetry})` : "Retry all";
  $("retry-all").disabled = toRetry === 0;
}

// -- table ----------------------------------------------------------------------------

function renderChips() {
  const counts = state.summary[state.tab];
  const chips = [["", "All", counts.total], ...STATUSES.map((s) => [s, s, counts[s.toLowerCase()]])];
  $("status-chips").innerHTML = chips
    .map(([value, label, n]) => {
      const active = value === state.status ? " active" : "";
      return `<button class="chip${active}" data-status="${value}" type="button">${label}<em>${state.scene ? "" : n.toLocaleString()}</em></button>`;
    })
    .join("");
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.tab === state.tab);
  const chip = $("scene-filter");
  chip.hidden = !(state.scene && state.tab === "tiles");
  chip.innerHTML = state.scene ? `tiles of scene #${state.scene} <button type="button" data-clear-scene aria-label="Show all tiles">×</button>` : "";
}

async function loadTable() {
  const aoi = state.aoi;
  let items;
  if (state.tab === "tiles" && state.scene) {
    items = (await api.sceneTiles(state.scene)).filter((t) => !state.status || t.status === state.status);
    state.total = items.length;
    items = items.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
  } else {
    const fetcher = state.tab === "tiles" ? api.tiles : api.scenes;
    items = await fetcher(aoi, state.status, state.page, PAGE_SIZE);
    const counts = state.summary[state.tab];
    state.total = state.status ? counts[state.status.toLowerCase()] : counts.total;
  }
  if (aoi !== state.aoi) return;
  renderChips();
  renderHead($("table-head"), state.tab);
  const render = state.tab === "tiles" ? tileRow : sceneRow;
  const kind = state.tab === "tiles" ? "tile" : "scene";
  patchRows(
    $("table-body"),
    items.map((item) => ({
      key: `${kind}-${item.id}`,
      html: render(item),
      selected: state.selected && state.selected.kind === kind && state.selected.id === item.id,
    })),
  );
  $("table-empty").hidden = items.length > 0;
  $("table-empty").textContent = state.status ? `No ${state.status} ${kind}.` : `No ${kind} yet.`;
  renderPager();
}

function renderPager() {
  const pages = Math.max(1, Math.ceil(state.total / PAGE_SIZE));
  const first = state.total ? state.page * PAGE_SIZE + 1 : 0;
  const last = Math.min(state.total, (state.page + 1) * PAGE_SIZE);
  $("pager").innerHTML =
    `<span>${first.toLocaleString()}–${last.toLocaleString()} of ${state.total.toLocaleString()}</span>` +
    `<button class="button small" data-page="${state.page - 1}" type="button" ${state.page <= 0 ? "disabled" : ""}>‹ Previous</button>` +
    `<button class="button small" data-page="${state.page + 1}" type="button" ${state.page >= pages - 1 ? "disabled" : ""}>Next ›</button>`;
}

// -- map, graph, drawer -----------------------------------------------------------------

async function loadMap(refit = false) {
  const aoi = state.aoi;
  const collection = await api.footprints(aoi);
  if (aoi !== state.aoi) return;
  memo.mapAt = Date.now();
  map.setData(collection, { refit });
  const select = $("map-date");
  const dates = map.dates();
  const options = [`<option value="">all dates · most urgent</option>`, ...dates.map((d) => `<option value="${d}">${d}</option>`)].join("");
  if (select.dataset.options !== options) {
    const current = select.value;
    select.innerHTML = options;
    select.dataset.options = options;
    select.value = dates.includes(current) ? current : "";
  }
  const tiles = collection.features.filter((f) => f.properties.kind === "tile");
  const counts = Object.fromEntries(STATUSES.map((s) => [s, tiles.filter((f) => f.properties.status === s).length]));
  $("map-legend").innerHTML =
    STATUSES.map((s) => `<span><i class="seg-bg-${s}"></i>${s.toLowerCase()} ${counts[s].toLocaleString()}</span>`).join("") +
    `<span><i class="dash"></i>scene footprint</span>` +
    (collection.aoi ? `<span><i class="aoi-key"></i>AOI</span>` : "");
}

async function loadGraph() {
  await graph.load(state.aoi, api.graphSvg);
}

async function loadDrawer() {
  const sel = state.selected;
  if (!sel) return;
  let item;
  let events;
  try {
    [item, events] = await Promise.all([api.item(sel.kind, sel.id), api.events(sel.kind, sel.id)]);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      closeDrawer();
      return;
    }
    throw error;
  }
  if (state.selected !== sel) return;
  const sig = signature([item, events]);
  if (sig === memo.drawer) return;
  memo.drawer = sig;
  renderDrawer($("drawer"), sel.kind, item, events);
  $("drawer").hidden = false;
  document.body.classList.add("with-drawer");
}

function highlight() {
  const sel = state.selected;
  map.select(sel?.kind, sel?.id);
  graph.select(sel?.kind, sel?.id);
  for (const tr of $("table-body").children) {
    tr.classList.toggle("sel", Boolean(sel) && tr.dataset.key === `${sel.kind}-${sel.id}`);
  }
}

async function select(kind, id) {
  state.selected = { kind, id };
  memo.drawer = "";
  writeHash();
  highlight();
  try {
    await loadDrawer();
  } catch (error) {
    report(error);
  }
}

function closeDrawer() {
  state.selected = null;
  memo.drawer = "";
  $("drawer").hidden = true;
  document.body.classList.remove("with-drawer");
  writeHash();
  highlight();
}

// -- refresh loop -----------------------------------------------------------------------

let busy = false;
let again = false;
let timer = null;

function setLive(kind, text) {
  $("live").className = `live ${kind}`;
  $("live-text").textContent = text;
}

async function refresh({ full = false, refit = false } = {}) {
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  try {
    state.aois = await api.aois();
    renderAois();
    if (!memo.pageConfig) {
      map.setBasemap(await api.pageConfig());
      memo.pageConfig = true;
    }
    if (state.aoi) {
      let summary;
      try {
        summary = await api.summary(state.aoi);
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          toast(`AOI ${state.aoi} no longer exists`, "error");
          showAoi(null);
          return;
        }
        throw error;
      }
      state.summary = summary;
      const sig = signature(summary);
      const changed = sig !== memo.summary;
      memo.summary = sig;
      $("welcome").hidden = true;
      $("aoi-view").hidden = false;
      if (changed) renderSummary();
      if (changed || full || state.ticks % FULL_RELOAD_EVERY === 0) {
        // Footprints of a big AOI weigh megabytes: re-read them at most every BIG_MAP_EVERY ms.
        const mapDue = full || summary.tiles.total <= BIG_AOI || Date.now() - memo.mapAt > BIG_MAP_EVERY;
        await Promise.all([loadTable(), mapDue ? loadMap(refit) : null, loadGraph()]);
        highlight();
      }
      await loadDrawer();
    }
    const time = new Date().toLocaleTimeString([], { hour12: false });
    setLive(state.every ? "on" : "", `${state.every ? "live" : "paused"} · updated ${time}`);
  } catch (error) {
    report(error);
  } finally {
    busy = false;
    state.ticks += 1;
    if (again) {
      again = false;
      refresh({ full: true });
    }
  }
}

function report(error) {
  if (error instanceof ApiError && error.status === 401) {
    setLive("error", "access token needed");
    $("token-button").classList.add("needs");
    return;
  }
  setLive("error", error instanceof ApiError ? error.message : `error: ${error.message}`);
  if (!(error instanceof ApiError)) console.error(error);
}

function schedule() {
  clearTimeout(timer);
  if (!state.every) return;
  timer = setTimeout(async () => {
    await refresh();
    schedule();
  }, state.every * 1000);
}

function showAoi(name, view = {}) {
  const changed = name !== state.aoi;
  state.aoi = name;
  Object.assign(state, { tab: "tiles", status: "", page: 0, scene: null, selected: null }, view);
  memo.summary = "";
  memo.drawer = "";
  if (changed) {
    $("drawer").hidden = true;
    document.body.classList.remove("with-drawer");
    $("table-body").replaceChildren();
    $("map-date").value = "";
    map.setFilter({ date: "" });
  }
  if (state.selected) $("drawer").hidden = false;
  $("welcome").hidden = Boolean(name);
  $("aoi-view").hidden = !name;
  writeHash();
  renderAois();
  if (name) refresh({ full: true, refit: changed });
}

// -- actions ----------------------------------------------------------------------------

const VERBS = {
  scene: "its product is downloaded again",
  tile: "it is processed again (its scene and previous tile must be DONE)",
};

async function act(action, kind, id) {
  let answer;
  if (action === "retry") {
    answer = await confirmAction({ title: `Retry ${kind} #${id}?`, text: `The ${kind} goes back to PENDING: ${VERBS[kind]}.`, ok: "Retry" });
  } else if (action === "fail") {
    const more = kind === "scene" ? " All its tiles fail too; their dependants skip over them." : " Its dependants are re-linked to its previous tile.";
    answer = await confirmAction({ title: `Fail ${kind} #${id}?`, text: `The ${kind} becomes FAILED.${more}`, ok: "Fail", danger: true, fields: { message: true } });
  } else {
    answer = await confirmAction({
      title: `Force the status of ${kind} #${id}`,
      text: "Sets the status with the side effects of the normal transition (dispatching dependants, re-linking failures).",
      ok: "Force",
      danger: true,
      warning: "Forcing a status bypasses the workflow rules and can lead to unexpected results.",
      fields: { status: true, message: true },
    });
  }
  if (!answer) return;
  try {
    let result;
    if (action === "retry") result = await api.retry(kind, id);
    else if (action === "fail") result = await api.fail(kind, id, answer.message || undefined);
    else result = await api.force(kind, id, answer.status, answer.message || undefined);
    toast(`${kind} #${id} is now ${result.status}`, "ok");
  } catch (error) {
    toast(error.message, "error");
  }
  memo.drawer = "";
  await refresh({ full: true });
}

async function retryAll(force) {
  const s = state.summary;
  const answer = await confirmAction({
    title: force ? `Force retry of ${s.aoi}?` : `Retry everything in ${s.aoi}?`,
    text: force
      ? "Every RETRY scene and tile goes back to PENDING, and PENDING work is dispatched again."
      : `${plural(s.scenes.retry, "scene")} and ${plural(s.tiles.retry, "tile")} are in RETRY. Tiles run again once their scene and previous tile are DONE.`,
    ok: force ? "Force retry" : "Retry all",
    danger: force,
  });
  if (!answer) return;
  try {
    const result = await api.retryAoi(s.aoi, force);
    toast(result ? `Retried ${plural(result.Scenes, "scene")} and ${plural(result.Tiles, "tile")}` : "Nothing to retry", "ok");
  } catch (error) {
    toast(error.message, "error");
  }
  await refresh({ full: true });
}

async function downloadDot() {
  try {
    const text = await api.dot(state.aoi);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([text], { type: "text/vnd.graphviz" }));
    link.download = `${state.aoi}.dot`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  } catch (error) {
    toast(error.message, "error");
  }
}

let asking = false;
let prompted = false; // ask by ourselves once per token tried; the key button asks any time

async function tokenPrompt() {
  if (asking) return;
  asking = true;
  prompted = true;
  try {
    const answer = await askToken(getToken());
    if (answer) {
      setToken(answer.token);
      prompted = false;
      $("token-button").classList.remove("needs");
      refresh({ full: true, refit: true });
    }
  } finally {
    asking = false;
  }
}

// -- wiring -----------------------------------------------------------------------------

function bind() {
  onUnauthorized(() => {
    if (!prompted) tokenPrompt();
  });
  $("token-button").addEventListener("click", () => tokenPrompt());
  $("refresh-now").addEventListener("click", () => refresh({ full: true }));
  $("refresh-every").addEventListener("change", (event) => {
    state.every = Number(event.target.value);
    refresh();
    schedule();
  });
  $("aoi-filter").addEventListener("input", () => renderAois());
  $("aoi-list").addEventListener("click", (event) => {
    const link = event.target.closest("[data-aoi]");
    if (!link) return;
    event.preventDefault();
    showAoi(link.dataset.aoi);
  });
  $("retry-all").addEventListener("click", () => retryAll(false));
  $("retry-force").addEventListener("click", () => retryAll(true));
  $("map-fit").addEventListener("click", () => map.fit());
  $("graph-fit").addEventListener("click", () => graph.fit());
  $("graph-dot").addEventListener("click", () => downloadDot());
  $("show-scenes").addEventListener("change", (event) => map.setFilter({ scenes: event.target.checked }));
  $("show-tiles").addEventListener("change", (event) => map.setFilter({ tiles: event.target.checked }));
  $("map-date").addEventListener("change", (event) => map.setFilter({ date: event.target.value }));
  $("open-id").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = Number(event.target.elements.id.value);
    if (id > 0) select(state.tab === "tiles" ? "tile" : "scene", id);
    event.target.reset();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("drawer").hidden && !document.querySelector("dialog[open]")) closeDrawer();
  });
  document.addEventListener("click", (event) => {
    const target = event.target;
    const action = target.closest("[data-action]");
    if (action) {
      event.stopPropagation();
      act(action.dataset.action, action.dataset.kind, Number(action.dataset.id));
      return;
    }
    const fullscreen = target.closest("[data-fullscreen]");
    if (fullscreen) {
      const panel = fullscreen.closest(".panel");
      if (document.fullscreenElement) document.exitFullscreen();
      else panel.requestFullscreen?.();
      return;
    }
    const open = target.closest("[data-open]");
    if (open) {
      select(open.dataset.open, Number(open.dataset.id));
      return;
    }
    if (target.closest("[data-close]")) {
      closeDrawer();
      return;
    }
    const sceneTiles = target.closest("[data-scene-tiles]");
    if (sceneTiles) {
      Object.assign(state, { tab: "tiles", scene: Number(sceneTiles.dataset.sceneTiles), status: "", page: 0 });
      writeHash();
      refresh({ full: true });
      return;
    }
    if (target.closest("[data-clear-scene]")) {
      Object.assign(state, { scene: null, page: 0 });
      writeHash();
      refresh({ full: true });
      return;
    }
    const chip = target.closest("[data-status]");
    if (chip && chip.classList.contains("chip")) {
      Object.assign(state, { status: chip.dataset.status, page: 0 });
      writeHash();
      refresh({ full: true });
      return;
    }
    const count = target.closest("[data-filter-status]");
    if (count) {
      Object.assign(state, { tab: count.dataset.filterKind, status: count.dataset.filterStatus, page: 0, scene: null });
      writeHash();
      refresh({ full: true });
      $("table").scrollIntoView({ behavior: "smooth", block: "start" });
      return;
    }
    const tab = target.closest(".tab");
    if (tab) {
      Object.assign(state, { tab: tab.dataset.tab, status: "", page: 0, scene: null });
      writeHash();
      refresh({ full: true });
      return;
    }
    const page = target.closest("[data-page]");
    if (page && !page.disabled) {
      state.page = Number(page.dataset.page);
      writeHash();
      refresh({ full: true });
      return;
    }
    const row = target.closest("#table-body tr");
    if (row) {
      const [kind, id] = row.dataset.key.split("-");
      select(kind, Number(id));
    }
  });
  window.addEventListener("hashchange", () => {
    const wanted = readHash();
    if (wanted.aoi !== state.aoi) showAoi(wanted.aoi, wanted);
  });
}

bind();
const initial = readHash();
if (initial.aoi) showAoi(initial.aoi, initial);
else refresh();
schedule();
