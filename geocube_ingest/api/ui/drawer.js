// Details of one scene or tile: status, message, links, actions, data and history.

import { badge, dateTime, day, esc } from "./format.js";

function link(kind, id) {
  if (id === null || id === undefined) return `<span class="muted">none</span>`;
  return `<span class="link" data-open="${kind}" data-id="${id}">${kind} #${id}</span>`;
}

function history(events) {
  if (!events.length) return `<p class="muted">No history.</p>`;
  const items = [...events].reverse().map((e) => {
    const change = e.from_status && e.from_status !== e.to_status
      ? `${badge(e.from_status)} → ${badge(e.to_status)}`
      : badge(e.to_status);
    return (
      `<li class="t-${esc(e.to_status)}"><div class="when">${esc(dateTime(e.at))} · ${esc(e.actor)}</div>` +
      `<div class="what">${change}</div>` +
      (e.message ? `<div class="why">${esc(e.message)}</div>` : "") +
      `</li>`
    );
  });
  return `<ul class="timeline">${items.join("")}</ul>`;
}

export function renderDrawer(container, kind, item, events) {
  const isTile = kind === "tile";
  const actions = item.status === "RETRY"
    ? `<button class="button primary" data-action="retry" data-kind="${kind}" data-id="${item.id}" type="button">Retry</button>` +
      `<button class="button" data-action="fail" data-kind="${kind}" data-id="${item.id}" type="button">Fail…</button>`
    : "";
  const rows = isTile
    ? `<dt>Scene</dt><dd>${link("scene", item.scene.id)} <span class="muted">${esc(day(item.scene.data && item.scene.data.date))}</span></dd>` +
      `<dt>Previous</dt><dd>${link("tile", item.PreviousID)}</dd>` +
      `<dt>Reference</dt><dd>${link("tile", item.ReferenceID)}</dd>` +
      `<dt>Graph</dt><dd class="mono">${esc(item.data.graph_name || "–")}</dd>`
    : `<dt>Acquired</dt><dd>${esc(dateTime(item.data.date))}</dd>` +
      `<dt>Tiles</dt><dd><span class="link" data-scene-tiles="${item.id}">show the tiles of this scene</span></dd>` +
      `<dt>Graph</dt><dd class="mono">${esc(item.data.graph_name || "–")}</dd>`;
  container.innerHTML =
    `<div class="drawer-head"><div class="drawer-title"><h3>${isTile ? "Tile" : "Scene"} #${item.id}</h3>${badge(item.status)}</div>` +
    `<button class="close" data-close type="button" aria-label="Close">×</button></div>` +
    `<div class="source">${esc(item.source_id)}</div>` +
    (item.message ? `<div class="message st-${esc(item.status)}">${esc(item.message)}</div>` : "") +
    `<div class="actions">${actions}<button class="button" data-action="force" data-kind="${kind}" data-id="${item.id}" type="button">Force status…</button></div>` +
    `<dl>${rows}<dt>Retries left</dt><dd>${item.RetryCountDown}</dd></dl>` +
    `<h4>History</h4>${history(events)}` +
    `<h4>Data</h4><pre>${esc(JSON.stringify(item.data, null, 2))}</pre>`;
}
