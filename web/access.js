// Sign-up, sign-in (authorization code + PKCE S256, public client "lpm-guard-web"), the
// account page and API clients. Tokens live in sessionStorage: gone when the tab closes.
"use strict";

const CLIENT_ID = "lpm-guard-web";
const REDIRECT_URI = `${location.origin}/callback.html`;
const store = window.sessionStorage;

function b64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(size) {
  return b64url(crypto.getRandomValues(new Uint8Array(size)));
}

function showError(message) {
  const box = document.getElementById("account-error");
  if (box) box.textContent = message;
}

async function problemText(response) {
  try {
    const body = await response.json();
    return body.detail || body.error_description || body.title || body.error || response.statusText;
  } catch {
    return response.statusText;
  }
}

async function signIn() {
  const verifier = randomString(48);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const state = randomString(16);
  store.setItem("pkce_verifier", verifier);
  store.setItem("oauth_state", state);
  const query = new URLSearchParams({
    response_type: "code",
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    state,
    code_challenge: b64url(digest),
    code_challenge_method: "S256",
  });
  location.assign(`/oauth/authorize?${query}`);
}

async function token(form) {
  const response = await fetch("/oauth/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: CLIENT_ID, ...form }),
  });
  if (!response.ok) throw new Error(await problemText(response));
  const tokens = await response.json();
  store.setItem("access_token", tokens.access_token);
  if (tokens.refresh_token) store.setItem("refresh_token", tokens.refresh_token);
  return tokens;
}

async function finishSignIn() {
  const params = new URLSearchParams(location.search);
  if (params.get("error")) throw new Error(params.get("error_description") || params.get("error"));
  if (!params.get("code") || params.get("state") !== store.getItem("oauth_state")) {
    throw new Error("this sign-in did not start here; start again");
  }
  await token({
    grant_type: "authorization_code",
    code: params.get("code"),
    redirect_uri: REDIRECT_URI,
    code_verifier: store.getItem("pkce_verifier"),
  });
  store.removeItem("pkce_verifier");
  store.removeItem("oauth_state");
  location.replace("/account.html");
}

// A call with the access token; once, on 401, rotate the refresh token and retry.
async function api(path, options = {}, retry = true) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${store.getItem("access_token")}` };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401 && retry && store.getItem("refresh_token")) {
    await token({ grant_type: "refresh_token", refresh_token: store.getItem("refresh_token") });
    return api(path, options, false);
  }
  if (!response.ok) throw new Error(await problemText(response));
  return response.json();
}

async function signOut() {
  const refresh = store.getItem("refresh_token");
  if (refresh) {
    await fetch("/oauth/revoke", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: CLIENT_ID, token: refresh, token_type_hint: "refresh_token" }),
    });
  }
  store.clear();
  location.reload();
}

async function showClients() {
  const list = document.getElementById("client-list");
  list.replaceChildren();
  for (const client of await api("/v1/clients")) {
    const item = document.createElement("li");
    item.textContent = `${client.name} — ${client.client_id} — ${client.scope}` +
      (client.revoked_at ? " (revoked)" : "");
    if (!client.revoked_at) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Revoke";
      button.addEventListener("click", async () => {
        await api(`/v1/clients/${encodeURIComponent(client.client_id)}`, { method: "DELETE" });
        await showClients();
      });
      item.append(" ", button);
    }
    list.append(item);
  }
}

async function showAccount() {
  if (!store.getItem("access_token")) {
    document.getElementById("signed-out").hidden = false;
    document.getElementById("sign-in").addEventListener("click", signIn);
    return;
  }
  const me = await api("/v1/me");
  document.getElementById("signed-in").hidden = false;
  document.getElementById("me-name").textContent = `${me.name} <${me.email}>`;
  document.getElementById("me-role").textContent = me.role;
  document.getElementById("me-standing").textContent = me.standing;
  document.getElementById("me-scopes").textContent = me.scopes.join(" ") || "none yet";
  document.getElementById("me-application").textContent = me.application
    ? `${me.application.status}${me.application.decision_reason ? ` — ${me.application.decision_reason}` : ""}`
    : "—";
  document.getElementById("sign-out").addEventListener("click", signOut);
  if (me.role === "researcher" && me.scopes.length) {
    document.getElementById("new-client").addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = new FormData(event.target).get("name");
      const client = await api("/v1/clients", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name }),
      });
      document.getElementById("client-secret").textContent =
        `client_id ${client.client_id}, secret ${client.client_secret} (copy it now: it is not shown again)`;
      await showClients();
    });
    document.getElementById("clients").hidden = false;
    await showClients();
  }
  document.body.dataset.ready = "account";
}

async function submitApplication(event) {
  event.preventDefault();
  const data = new FormData(event.target);
  const body = {
    name: data.get("name"),
    email: data.get("email"),
    password: data.get("password"),
    institution: data.get("institution"),
    position: data.get("position"),
    research_purpose: data.get("research_purpose"),
    ethics_reference: data.get("ethics_reference"),
    intended_uses: data.getAll("intended_uses"),
    accepted_terms_version: data.get("accepted_terms_version") || "",
  };
  const response = await fetch("/v1/applications", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const result = document.getElementById("signup-result");
  result.textContent = response.ok
    ? "Thank you. A reviewer will read your application; sign in to follow it."
    : `Not sent: ${await problemText(response)}`;
  if (response.ok) event.target.reset();
}

document.addEventListener("DOMContentLoaded", () => {
  const run = (promise) => promise.catch((error) => showError(error.message));
  const signup = document.getElementById("signup");
  if (signup) {
    signup.addEventListener("submit", (event) => run(submitApplication(event)));
    document.body.dataset.ready = "signup";
  }
  if (location.pathname === "/callback.html") run(finishSignIn());
  if (location.pathname === "/account.html") run(showAccount());
});
