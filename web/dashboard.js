// The researcher's dashboard: standing and quota, identities and invitations, offline
// generations (progress, player), live sessions, API clients.
import { ApiError, api, authorizedFetch, currentUser, serverEvents } from "./lib/api.js";
import { $, badge, cell, el, formatSeconds, formatTime, say, startPage } from "./lib/page.js";

const RETRY_MS = 2000;

// -- words for states ------------------------------------------------------------------------

const IDENTITY_STATUS = {
  awaiting_consent: ["warn", "Waiting for the person's consent"],
  awaiting_review: ["warn", "Consent recorded, waiting for a reviewer"],
  consented: ["ok", "Consented"],
  pending_review: ["warn", "Waiting for a reviewer"],
  approved: ["ok", "Approved (synthetic)"],
  rejected: ["bad", "Rejected by a reviewer"],
  revoked: ["bad", "Consent withdrawn"],
};

const JOB_STATUS = {
  awaiting_review: ["warn", "Awaiting review"],
  queued: ["warn", "Waiting for a worker"],
  running: ["warn", "Rendering"],
  succeeded: ["ok", "Done"],
  failed: ["bad", "Failed"],
};

const STOP_REASON = {
  client_closed: "Closed by the client",
  policy: "Stopped by the content policy",
  revoked: "Revoked",
  quota: "The day's quota was spent",
  max_duration: "Reached the longest a session may last",
  idle: "Nothing heard for too long",
  generator: "Stopped: the generator failed",
  error: "Stopped by a server error",
  shutdown: "The server shut down",
};

function problemText(error) {
  return error instanceof ApiError ? error.message : `Something went wrong: ${error.message}`;
}

let identities = [];
const names = () => Object.fromEntries(identities.map((identity) => [identity.id, identity.display_name]));

// -- standing and quota ----------------------------------------------------------------------

async function showStanding(user) {
  $("#standing-text").replaceChildren(user.standing === "active"
    ? badge("ok", "Active")
    : badge("bad", `Not active: ${user.standing}`));
  const uses = [];
  if (user.scopes.includes("generate:offline")) uses.push("offline generations");
  if (user.scopes.includes("generate:live")) uses.push("live sessions");
  $("#approved-for").textContent = uses.length ? uses.join(" and ") : "nothing yet (your application is being reviewed)";
  await refreshQuota();
}

async function refreshQuota() {
  try {
    const quota = await api("/v1/me/quota");
    $("#quota-text").textContent =
      `${formatSeconds(quota.used_s)} of ${formatSeconds(quota.daily_quota_s)} generated; ${formatSeconds(quota.remaining_s)} left`;
    $("#quota-meter").max = Math.max(quota.daily_quota_s, 1e-9);
    $("#quota-meter").value = quota.used_s;
  } catch (error) {
    $("#quota-text").textContent = problemText(error);
  }
}

// -- identities and invitations --------------------------------------------------------------

async function loadIdentities() {
  identities = await api("/v1/consent/identities");
  const rows = identities.map((identity) => {
    const [kind, words] = IDENTITY_STATUS[identity.status] || ["", identity.status];
    return el("tr", { dataset: { identity: identity.id } },
      cell("Name", identity.display_name,
        identity.subject_email ? el("span", { class: "muted identity-email" }, identity.subject_email) : null),
      cell("Consent", badge(kind, words)),
      cell("Uses", identity.allowed_uses.length ? identity.allowed_uses.join(", ") : "—"),
      cell("Consent until", formatTime(identity.expires_at)),
      cell("Photos", String(identity.photos)));
  });
  $("#identity-rows").replaceChildren(...rows);
  $("#identities-empty").hidden = rows.length > 0;
  // Invitations go to people awaiting consent (or consented, to renew); generations to those
  // whose consent (or approval) covers offline use.
  const invitable = identities.filter((i) => i.kind !== "synthetic" && i.status !== "revoked");
  fillSelect($("#invite-identity"), invitable, "No identity to invite for");
  const usable = identities.filter((i) => ["consented", "approved"].includes(i.status) && i.allowed_uses.includes("offline"));
  fillSelect($("#generate-identity"), usable, "No identity with consent to offline use yet");
}

function fillSelect(select, items, empty) {
  const chosen = select.value;
  const counts = {};
  for (const item of items) counts[item.display_name] = (counts[item.display_name] || 0) + 1;
  // Two people of the same name: tell them apart by when they were added.
  const label = (item) => counts[item.display_name] > 1
    ? `${item.display_name} (added ${formatTime(item.created_at)})`
    : item.display_name;
  select.replaceChildren(...(items.length
    ? items.map((item) => el("option", { value: item.id, selected: item.id === chosen }, label(item)))
    : [el("option", { value: "" }, empty)]));
}

async function createIdentity(event) {
  event.preventDefault();
  const form = event.target;
  const box = $("#identity-message");
  say(box, "Checking the photos…");
  try {
    const identity = await api("/v1/consent/identities", { method: "POST", body: new FormData(form) });
    form.reset();
    say(box, `Added ${identity.display_name}. Invite them to consent next.`, "ok");
    await loadIdentities();
    $("#invite-identity").value = identity.id;
  } catch (error) {
    say(box, `Not added: ${problemText(error)}`, "error");
  }
}

async function invite(event) {
  event.preventDefault();
  const form = event.target;
  const data = new FormData(form);
  const box = $("#invite-message");
  const uses = data.getAll("uses");
  if (!data.get("identity_id")) return say(box, "Add a person first.", "error");
  if (!uses.length) return say(box, "Choose at least one use.", "error");
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  say(box, "Sending the invitation…");
  try {
    const sent = await api(`/v1/consent/identities/${encodeURIComponent(data.get("identity_id"))}/invitations`,
      { method: "POST", body: { uses, excluded_content: String(data.get("excluded_content") || "").trim() } });
    // The link goes to the person only: the answer names the (masked) address, never the link.
    say(box, `Invitation emailed to ${sent.sent_to}. Their link works until ${formatTime(sent.link_expires_at)}.`, "ok");
  } catch (error) {
    say(box, `No invitation: ${problemText(error)}`, "error");
  } finally {
    button.disabled = false;
  }
}

// -- offline generations ---------------------------------------------------------------------

const jobRows = new Map(); // job id -> { row, job }
const following = new Set(); // ids of the unfinished jobs whose progress stream is open
const refused = new Set(); // ids whose stream the server refused: not asked again
let watchWhenDone = null; // the job this page started: shown in the player when it finishes

function progressText(job) {
  if (job.status === "running") return `Your generation is ${Math.round(job.progress * 100)} % done`;
  if (job.status === "queued") return "It starts when a worker is free";
  if (job.status === "awaiting_review") return `A reviewer decides before it is made: ${job.review || "the content policy asked for review"}`;
  return "";
}

function jobCells(job) {
  const [kind, words] = JOB_STATUS[job.status] || ["", job.status];
  const bar = el("progress", {
    max: "1", value: String(job.progress),
    "aria-label": `Progress of the generation started ${formatTime(job.created_at)}`,
  });
  const result = job.status === "succeeded"
    ? el("button", { type: "button", class: "secondary", onclick: () => showVideo(job) }, "Watch")
    : job.status === "failed" ? el("span", { class: "error" }, job.error || "no reason given") : "—";
  return [
    cell("Started", formatTime(job.created_at)),
    cell("Identity", names()[job.identity_id] || job.identity_id),
    cell("Length", formatSeconds(job.seconds)),
    cell("Progress", badge(kind, words), bar, el("span", { class: "job-progress" }, progressText(job))),
    cell("Result", result),
  ];
}

function showJob(job, first = false) {
  const known = jobRows.get(job.id);
  if (known && known.job.status === job.status && known.job.progress === job.progress) return;
  const row = known ? known.row : el("tr", { dataset: { job: job.id } });
  row.dataset.status = job.status;
  row.replaceChildren(...jobCells(job));
  jobRows.set(job.id, { row, job });
  if (!known) $("#job-rows")[first ? "prepend" : "append"](row);
  $("#jobs-empty").hidden = true;
  if (known && (job.status === "succeeded" || job.status === "failed")) {
    refreshQuota(); // what the job used is charged when it ends
  }
  if (job.status === "succeeded" && watchWhenDone === job.id) {
    watchWhenDone = null;
    showVideo(job);
  }
}

const PAGE = 20;

async function loadJobs(before = null) {
  const query = new URLSearchParams({ limit: String(PAGE), ...(before ? { before } : {}) });
  const jobs = await api(`/v1/generations?${query}`);
  for (const job of jobs) showJob(job);
  $("#jobs-empty").hidden = jobRows.size > 0;
  const older = $("#older-jobs");
  older.hidden = jobs.length < PAGE;
  older.dataset.before = jobs.length ? jobs[jobs.length - 1].id : "";
  keepFollowing();
}

const unfinished = (job) => ["awaiting_review", "queued", "running"].includes(job.status);

/** Follow unfinished jobs' progress on their Server-Sent Events streams, at most MAX_STREAMS
 * at a time (a browser keeps only six connections to a server, and the page needs some for its
 * own calls; jobs run a few at a time anyway). A stream that breaks is opened again a little
 * later; one the server refuses (the job is gone) is not. */
const MAX_STREAMS = 2;

function keepFollowing() {
  for (const { job } of jobRows.values()) {
    if (following.size >= MAX_STREAMS) return;
    if (unfinished(job) && !following.has(job.id) && !refused.has(job.id)) follow(job.id);
  }
}

async function follow(id) {
  following.add(id);
  try {
    for await (const job of serverEvents(`/v1/generations/${encodeURIComponent(id)}/events`)) showJob(job);
  } catch (error) {
    say($("#generate-message"), `Could not follow the progress: ${problemText(error)}`, "error");
    if (error instanceof ApiError && error.status < 500) refused.add(id);
    else await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  } finally {
    following.delete(id);
    keepFollowing();
  }
}

async function generate(event) {
  event.preventDefault();
  const form = event.target;
  const data = new FormData(form);
  const box = $("#generate-message");
  if (!data.get("identity_id")) return say(box, "No identity has consented to offline use yet.", "error");
  if (data.getAll("references").every((file) => !file.size)) data.delete("references");
  if (!data.get("instructions")) data.delete("instructions");
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  say(box, "Checking the request against consent and the content policy…");
  try {
    const job = await api("/v1/generations", { method: "POST", body: data });
    watchWhenDone = job.id;
    showJob(job, true);
    keepFollowing();
    if (job.status === "awaiting_review") say(box, `Awaiting review: a trust-and-safety reviewer decides before the video is made (${job.review}). Its status shows below.`, "warn");
    else say(box, "Accepted: the video is being made. Its progress shows below.", "ok");
    form.reset();
  } catch (error) {
    say(box, refusal(error), "error");
  } finally {
    button.disabled = false;
  }
}

/** Why the gate (or the upload check) said no, in the server's words, with its audit entry. */
function refusal(error) {
  if (!(error instanceof ApiError)) return `Not sent: ${error.message}`;
  const { reasons, audit_index: entry } = error.problem;
  const why = Array.isArray(reasons) && reasons.length ? reasons.join("; ") : error.message;
  const where = Number.isInteger(entry) ? ` (the decision is entry #${entry} of the audit log)` : "";
  return error.status === 403 ? `Refused: ${why}${where}.` : `Not accepted: ${why}`;
}

let videoUrl = null;

async function showVideo(job) {
  const player = $("#player");
  const response = await authorizedFetch(`/v1/generations/${encodeURIComponent(job.id)}/video`);
  if (!response.ok) {
    say($("#generate-message"), `The video could not be loaded (HTTP ${response.status}).`, "error");
    return;
  }
  if (videoUrl) URL.revokeObjectURL(videoUrl);
  videoUrl = URL.createObjectURL(await response.blob());
  const video = $("#result-video");
  video.src = videoUrl;
  video.dataset.job = job.id;
  const link = $("#download-link");
  link.href = videoUrl;
  link.download = `${job.id}.mp4`;
  $("#player-heading").textContent = `Result: ${names()[job.identity_id] || job.identity_id}, ${formatTime(job.created_at)}`;
  $("#player-audit").replaceChildren("Gate decision: audit entry ",
    el("a", { href: `/v1/audit/proofs/inclusion?index=${job.audit_index}` }, `#${job.audit_index}`));
  player.hidden = false;
}

// -- live sessions ---------------------------------------------------------------------------

let sessionRefresh = null;

async function endSession(session) {
  try {
    await api(`/v1/sessions/${encodeURIComponent(session.id)}`, { method: "DELETE" });
  } catch (error) {
    // Open on the books but not running in this server (it ended elsewhere): say so.
    say($("#dashboard-error"), `The session could not be ended: ${problemText(error)}`, "error");
  }
  await loadSessions();
}

async function loadSessions() {
  const sessions = await api(`/v1/sessions?limit=${PAGE}`);
  const rows = sessions.map((session) => el("tr", { dataset: { session: session.id, status: session.status } },
    cell("Opened", formatTime(session.opened_at)),
    cell("Identity", names()[session.identity_id] || session.identity_id),
    cell("Format", `${session.size.replace("x", " × ")} at ${session.fps} fps`),
    cell("State", session.status === "open"
      ? [badge("warn", "Open"), " ", el("button", {
        type: "button", class: "secondary", "aria-label": `End the session opened ${formatTime(session.opened_at)}`,
        onclick: () => endSession(session),
      }, "End")]
      : badge("", "Ended")),
    cell("Ended", formatTime(session.ended_at)),
    cell("Why it ended", session.stop_reason
      ? `${STOP_REASON[session.stop_reason] || session.stop_reason}${session.stop_detail ? ` (${session.stop_detail})` : ""}`
      : "—"),
    cell("Frames", String(session.frames))));
  $("#session-rows").replaceChildren(...rows);
  $("#sessions-empty").hidden = rows.length > 0;
  // While a session is open, look again now and then: it ends on its own (closed, revoked).
  clearTimeout(sessionRefresh);
  if (sessions.some((session) => session.status === "open")) {
    sessionRefresh = setTimeout(() => loadSessions().catch(() => {}), 5000);
  }
}

// -- API clients -----------------------------------------------------------------------------

async function loadClients() {
  const clients = await api("/v1/clients");
  const rows = clients.map((client) => el("tr", { dataset: { client: client.client_id } },
    cell("Name", client.name),
    cell("Client id", el("code", {}, client.client_id)),
    cell("Scopes", client.scope || "—"),
    cell("Created", formatTime(client.created_at)),
    cell("State", client.revoked_at
      ? badge("bad", `Revoked ${formatTime(client.revoked_at)}`)
      : el("button", {
        type: "button", class: "danger", "aria-label": `Revoke ${client.name}`,
        onclick: () => revokeClient(client),
      }, "Revoke"))));
  $("#client-rows").replaceChildren(...rows);
  $("#clients-empty").hidden = rows.length > 0;
}

async function createClient(event) {
  event.preventDefault();
  const form = event.target;
  try {
    const client = await api("/v1/clients", { method: "POST", body: { name: new FormData(form).get("name") } });
    $("#new-client-id").textContent = client.client_id;
    $("#new-client-secret").textContent = client.client_secret;
    $("#client-secret").hidden = false;
    say($("#client-message"), `Created ${client.name}.`, "ok");
    form.reset();
    await loadClients();
  } catch (error) {
    say($("#client-message"), `Not created: ${problemText(error)}`, "error");
  }
}

async function revokeClient(client) {
  try {
    await api(`/v1/clients/${encodeURIComponent(client.client_id)}`, { method: "DELETE" });
    $("#client-secret").hidden = true;
    say($("#client-message"), `Revoked ${client.name}: its tokens no longer work.`, "ok");
    await loadClients();
  } catch (error) {
    say($("#client-message"), `Not revoked: ${problemText(error)}`, "error");
  }
}

// -- start -----------------------------------------------------------------------------------

async function main() {
  const user = await startPage({ roles: ["researcher"] });
  if (!user) {
    // Sign-in lands here by default: staff are pointed to their own page.
    const someone = await currentUser().catch(() => null);
    if (someone && someone.role !== "researcher") {
      $("#gate").append(el("p", {}, el("a", { href: "/review.html", class: "button" }, "Go to the review console")));
    }
    return;
  }
  $("#new-identity").addEventListener("submit", createIdentity);
  $("#new-invitation").addEventListener("submit", invite);
  $("#new-generation").addEventListener("submit", generate);
  $("#new-client").addEventListener("submit", createClient);
  $("#older-jobs").addEventListener("click", (event) => loadJobs(event.target.dataset.before)
    .catch((error) => say($("#generate-message"), problemText(error), "error")));
  const failed = [];
  const load = async (what, task) => {
    try {
      await task();
    } catch (error) {
      failed.push(`${what}: ${problemText(error)}`);
    }
  };
  await load("identities", loadIdentities); // first: the other lists show identities by name
  await Promise.all([
    load("quota", () => showStanding(user)),
    load("generations", loadJobs),
    load("live sessions", loadSessions),
    load("API clients", loadClients),
  ]);
  if (failed.length) say($("#dashboard-error"), `Some of the page could not be loaded. ${failed.join(" ")}`, "error");
  document.body.dataset.ready = "dashboard";
}

main();
