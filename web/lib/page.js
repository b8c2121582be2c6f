// Small helpers every page uses: building DOM nodes (never innerHTML with data), the site
// header, messages, and the "who may see this page" check.

import { currentUser, signIn, signOut } from "./api.js";

/** el("a", { href: "/", class: "button" }, "text", childNode) — text is always a text node. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** A status badge: `kind` is "ok", "warn", "bad" or "" (neutral). */
export function badge(kind, text) {
  return el("span", { class: `badge ${kind || ""}`.trim() }, text);
}

/** A table cell; `label` heads it when the table folds into cards on a phone. */
export function cell(label, ...children) {
  return el("td", { "data-label": label }, ...children);
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

const LINKS = [
  { href: "/dashboard.html", text: "Dashboard", roles: ["researcher"] },
  { href: "/live.html", text: "Live session", roles: ["researcher"] },
  { href: "/review.html", text: "Review", roles: ["reviewer", "admin"] },
  { href: "/verify.html", text: "Verify a clip", roles: null },
  { href: "/account.html", text: "Account", roles: ["researcher", "reviewer", "admin"] },
];

/** The site header: brand, the links this user may use, sign in or out. */
export function renderHeader(user) {
  const links = LINKS.filter((link) => link.roles === null || (user && link.roles.includes(user.role)));
  const nav = el("nav", { class: "site-nav", "aria-label": "Site" },
    links.map((link) => el("a", {
      href: link.href,
      "aria-current": location.pathname === link.href ? "page" : null,
    }, link.text)));
  const who = user
    ? el("span", { class: "who" }, `${user.name} (${user.role})`, " ",
      el("button", { type: "button", class: "link", onclick: () => signOut() }, "Sign out"))
    : el("button", { type: "button", class: "link", onclick: () => signIn() }, "Sign in");
  const header = el("header", { class: "site-header" },
    el("a", { href: "/", class: "brand" }, "lpm-guard"), nav, who);
  document.body.prepend(header);
  sandboxBanner(user, header);
}

/** A sandbox account (lpm-guard demo) is said on every page, after `anchor` or first. */
export function sandboxBanner(user, anchor = null) {
  if (!user || !user.sandbox || document.getElementById("sandbox-banner")) return;
  const banner = el("p", { class: "sandbox-banner", role: "note", id: "sandbox-banner" },
    "Sandbox account: made by lpm-guard demo for trying the platform with a drawn character. ",
    "Its actions are real and audited under an id that starts with \u201csandbox_\u201d.");
  if (anchor) anchor.after(banner);
  else document.body.prepend(banner);
}

/** Show a message in `box` (role=status or alert in the markup); an Error shows its message. */
export function say(box, message, kind = "info") {
  box.textContent = message instanceof Error ? message.message : message;
  box.dataset.kind = kind;
}

/**
 * Start a page: render the header, and when `roles` is given, make sure a user with one of
 * those roles is signed in (otherwise explain and offer sign-in). Resolves to the user or null.
 */
export async function startPage({ roles = null } = {}) {
  let user = null;
  try {
    user = await currentUser();
  } catch (error) {
    renderHeader(null);
    showGate(`The server could not be reached: ${error.message}`);
    return null;
  }
  renderHeader(user);
  if (roles === null) return user;
  if (!user) {
    showGate("Sign in to use this page.", true);
    return null;
  }
  if (!roles.includes(user.role)) {
    showGate(`This page is for ${roles.join(" or ")} accounts; you are signed in as a ${user.role}.`);
    return null;
  }
  return user;
}

function showGate(message, offerSignIn = false) {
  const main = $("main");
  for (const child of main.children) if (child.tagName !== "H1") child.hidden = true;
  main.append(el("section", { class: "gate", id: "gate" },
    el("p", { role: "alert" }, message),
    offerSignIn ? el("button", { type: "button", onclick: () => signIn() }, "Sign in") : null));
  document.body.dataset.ready = "gate";
}

export function formatTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

export function formatSeconds(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return seconds < 60 ? `${seconds.toFixed(1)} s` : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/** Copy text to the clipboard, falling back to selecting it for the user. */
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (input) input.select();
    return false;
  }
}
