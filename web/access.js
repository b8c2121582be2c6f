// Sign-up, the sign-in callback, the account page and API clients.
import { api, finishSignIn, problemOf, signIn, signOut, signedIn } from "./lib/api.js";

function showError(message) {
  const box = document.getElementById("account-error");
  if (box) box.textContent = message;
}

async function problemText(response) {
  const problem = await problemOf(response);
  return problem.detail || problem.title || response.statusText;
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
  if (!signedIn()) {
    document.getElementById("signed-out").hidden = false;
    document.getElementById("sign-in").addEventListener("click", () => signIn("/account.html"));
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
  document.getElementById("sign-out").addEventListener("click", () => signOut());
  if (me.role === "researcher" && me.scopes.length) {
    document.getElementById("new-client").addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = new FormData(event.target).get("name");
      const client = await api("/v1/clients", { method: "POST", body: { name } });
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
