// /docs: Swagger UI (vendor/swagger-ui) over the server's schema. The schema is behind the
// token like the API: the token of this tab (the operator page's, or typed here) is sent for
// it and given to Swagger's Authorize, so "Try it out" works at once.

const TOKEN_KEY = "geocube-ingest-token";
const form = document.getElementById("token-form");
const problem = document.getElementById("token-error");

async function schema(token) {
  const response = await fetch("openapi.json", { headers: token ? { Authorization: `Bearer ${token}` } : {}, cache: "no-store" });
  if (response.status === 401) return null;
  if (!response.ok) throw new Error(`the schema could not be read: ${response.status} ${response.statusText}`);
  return response.json();
}

async function show() {
  const token = sessionStorage.getItem(TOKEN_KEY) || "";
  const spec = await schema(token);
  form.hidden = Boolean(spec);
  if (!spec) {
    problem.hidden = !token;
    problem.textContent = token ? "This token was refused." : "";
    document.getElementById("token-input").focus();
    return;
  }
  const ui = window.SwaggerUIBundle({ spec, dom_id: "#swagger-ui", validatorUrl: null, deepLinking: true });
  if (token) ui.preauthorizeApiKey("HTTPBearer", token);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = document.getElementById("token-input").value.trim();
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  show().catch(fail);
});

function fail(error) {
  form.hidden = false;
  problem.hidden = false;
  problem.textContent = error.message;
}

show().catch(fail);
