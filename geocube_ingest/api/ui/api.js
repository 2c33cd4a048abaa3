// Calls to the workflow server. Paths are relative to the page (/ui/ → /), so the page
// keeps working behind a reverse proxy prefix. The token lives in sessionStorage only.

const TOKEN_KEY = "geocube-ingest-token";
const BASE = new URL("../", document.baseURI);

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

let unauthorized = () => {};

export function onUnauthorized(handler) {
  unauthorized = handler;
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function describe(body, fallback) {
  if (!body || body.detail === undefined) return fallback;
  if (typeof body.detail === "string") return body.detail;
  // FastAPI's 422: a list of {loc, msg}
  return body.detail.map((p) => `${(p.loc || []).slice(1).join(".") || "request"}: ${p.msg}`).join("; ");
}

async function request(method, path, { as = "json", query } = {}) {
  const url = new URL(path, BASE);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: as === "json" ? "application/json" : "*/*" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, { method, headers, cache: "no-store" });
  } catch (error) {
    throw new ApiError(0, "server unreachable");
  }
  if (response.status === 401) {
    unauthorized();
    throw new ApiError(401, "a valid access token is required");
  }
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    throw new ApiError(response.status, describe(body, `${response.status} ${response.statusText}`));
  }
  if (response.status === 204) return null;
  return as === "text" ? response.text() : response.json();
}

const aoiPath = (aoi) => `aoi/${encodeURIComponent(aoi)}`;

export const api = {
  aois: () => request("GET", "aoi/", { query: { details: "true" } }),
  pageConfig: () => request("GET", "page/config"),
  summary: (aoi) => request("GET", `${aoiPath(aoi)}/summary`),
  footprints: (aoi) => request("GET", `${aoiPath(aoi)}/footprints`),
  graphSvg: (aoi) => request("GET", `${aoiPath(aoi)}/dot.svg`, { as: "text" }),
  dot: (aoi) => request("GET", `${aoiPath(aoi)}/dot`, { as: "text" }),
  scenes: (aoi, status, page, limit) =>
    request("GET", `${aoiPath(aoi)}/scenes${status ? `/${status}` : ""}`, { query: { page, limit } }),
  tiles: (aoi, status, page, limit) =>
    request("GET", `${aoiPath(aoi)}/tiles${status ? `/${status}` : ""}`, { query: { page, limit } }),
  sceneTiles: (sceneId) => request("GET", `scene/${sceneId}/tiles`),
  item: (kind, id) => request("GET", `${kind}/${id}`),
  events: (kind, id) => request("GET", `${kind}/${id}/events`),
  retry: (kind, id) => request("PUT", `${kind}/${id}/retry`),
  fail: (kind, id, message) => request("PUT", `${kind}/${id}/fail`, { query: { message } }),
  force: (kind, id, status, message) => request("PUT", `${kind}/${id}/force/${status}`, { query: { message } }),
  retryAoi: (aoi, force) => request("PUT", `${aoiPath(aoi)}/retry${force ? "/force" : ""}`),
};
