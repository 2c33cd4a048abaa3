// Confirmation, token prompt and toasts.

import { esc } from "./format.js";

const STATUSES = ["NEW", "PENDING", "DONE", "RETRY", "FAILED"];

function openDialog(dialog, focus) {
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true });
    dialog.returnValue = "cancel";
    dialog.showModal();
    if (focus) focus.focus();
  });
}

// Ask before changing anything. fields: {message: true, status: true} adds inputs.
export async function confirmAction({ title, text, ok, danger = false, warning = "", fields = {} }) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  let body = `<p>${esc(text)}</p>`;
  if (fields.status) {
    body +=
      `<label for="confirm-status">New status</label>` +
      `<select id="confirm-status" class="select">${STATUSES.map((s) => `<option>${s}</option>`).join("")}</select>`;
  }
  if (fields.message) {
    body += `<label for="confirm-message">Message (kept in the history)</label><textarea id="confirm-message" maxlength="2000"></textarea>`;
  }
  if (warning) body += `<p class="warn">${esc(warning)}</p>`;
  document.getElementById("confirm-body").innerHTML = body;
  const button = document.getElementById("confirm-ok");
  button.textContent = ok;
  button.className = `button ${danger ? "danger" : "primary"}`;
  const answer = await openDialog(dialog, button);
  if (answer !== "ok") return null;
  return {
    status: fields.status ? document.getElementById("confirm-status").value : null,
    message: fields.message ? document.getElementById("confirm-message").value.trim() : null,
  };
}

export async function askToken(current) {
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  input.value = current || "";
  const answer = await openDialog(dialog, input);
  if (answer === "ok") return { token: input.value.trim() };
  if (answer === "forget") return { token: "" };
  return null;
}

export function toast(text, kind = "") {
  const node = document.createElement("div");
  node.className = `toast ${kind}`;
  node.textContent = text;
  document.getElementById("toasts").append(node);
  setTimeout(() => node.remove(), kind === "error" ? 9000 : 4500);
}
