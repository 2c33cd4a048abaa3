// The scenes and tiles tables. Rows are patched by key, so a refresh that changes one
// status repaints one row: no flicker, hover and scroll stay where they are.

import { badge, day, esc } from "./format.js";

function actions(kind, item) {
  if (item.status === "RETRY") {
    return (
      `<button class="act retry" data-action="retry" data-kind="${kind}" data-id="${item.id}" type="button">Retry</button>` +
      `<button class="act fail" data-action="fail" data-kind="${kind}" data-id="${item.id}" type="button">Fail</button>`
    );
  }
  return `<button class="act" data-action="force" data-kind="${kind}" data-id="${item.id}" type="button" title="Force a status">Force…</button>`;
}

function message(text) {
  return `<td class="msg" title="${esc(text)}">${esc(text)}</td>`;
}

function tileLink(id) {
  return id ? `<span class="link" data-open="tile" data-id="${id}">#${id}</span>` : `<span class="muted">–</span>`;
}

export const COLUMNS = {
  tiles: ["ID", "Tile", "Acquired", "Status", "Scene", "Previous", "Message", ""],
  scenes: ["ID", "Scene", "Acquired", "Status", "Retries left", "Message", ""],
};

export function tileRow(tile) {
  return (
    `<td class="id">${tile.id}</td>` +
    `<td class="src" title="${esc(tile.source_id)}">${esc(tile.source_id)}</td>` +
    `<td class="date">${esc(day(tile.scene.data && tile.scene.data.date))}</td>` +
    `<td>${badge(tile.status)}</td>` +
    `<td><span class="link" data-open="scene" data-id="${tile.scene.id}">#${tile.scene.id}</span></td>` +
    `<td>${tileLink(tile.PreviousID)}</td>` +
    message(tile.message) +
    `<td class="actions">${actions("tile", tile)}</td>`
  );
}

export function sceneRow(scene) {
  return (
    `<td class="id">${scene.id}</td>` +
    `<td class="src" title="${esc(scene.source_id)}">${esc(scene.source_id)}</td>` +
    `<td class="date">${esc(day(scene.data && scene.data.date))}</td>` +
    `<td>${badge(scene.status)}</td>` +
    `<td class="id">${scene.RetryCountDown}</td>` +
    message(scene.message) +
    `<td class="actions">${actions("scene", scene)}</td>`
  );
}

export function renderHead(thead, kind) {
  const html = `<tr>${COLUMNS[kind].map((c) => `<th>${esc(c)}</th>`).join("")}</tr>`;
  if (thead.dataset.kind !== kind) {
    thead.innerHTML = html;
    thead.dataset.kind = kind;
  }
}

// rows: [{key, html, selected}] in display order.
export function patchRows(tbody, rows) {
  const existing = new Map([...tbody.children].map((tr) => [tr.dataset.key, tr]));
  let previous = null;
  for (const row of rows) {
    let tr = existing.get(row.key);
    if (tr) {
      existing.delete(row.key);
      if (tr.dataset.html !== row.html) {
        tr.innerHTML = row.html;
        tr.dataset.html = row.html;
      }
    } else {
      tr = document.createElement("tr");
      tr.dataset.key = row.key;
      tr.innerHTML = row.html;
      tr.dataset.html = row.html;
    }
    tr.classList.toggle("sel", Boolean(row.selected));
    const expected = previous ? previous.nextSibling : tbody.firstChild;
    if (expected !== tr) tbody.insertBefore(tr, expected);
    previous = tr;
  }
  for (const tr of existing.values()) tr.remove();
}
