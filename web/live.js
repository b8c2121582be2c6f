// The live session page: pick a consented identity, open a session (POST /v1/sessions), then
// stream over its WebSocket (docs/live.md): the microphone is the user's voice, an audio file
// the agent's; frames play on a canvas with their audio in sync.
import { ApiError, api } from "./lib/api.js";
import { FramePlayer, firstLoud, parseFrame } from "./lib/frames.js";
import { $, el, formatTime, say, startPage } from "./lib/page.js";
import { Microphone, VoiceStreamer, decodeVoice, pcmToBase64 } from "./lib/voice.js";

const STATE_WORDS = {
  idle: "idle",
  listening: "listening",
  speaking: "speaking",
};

// Why a session ended, in plain words (session.closed's reason).
const CLOSED_WORDS = {
  client_closed: () => "You ended the session.",
  policy: (detail) => `The policy stopped the session: ${detail || "a disallowed utterance"}.`,
  revoked: (detail) => `The session was revoked: ${detail || "consent or access was withdrawn"}.`,
  quota: () => "The session ended: your quota of generated seconds for today is spent.",
  max_duration: (detail) => `The session reached its maximum length (${detail}).`,
  idle: () => "The session ended: nothing was heard from this page for two minutes.",
  generator: (detail) =>
    `The session ended: the generator failed${detail ? ` (${detail})` : ""}.`,
  error: (detail) => `The session ended because of a server error${detail ? ` (${detail})` : ""}.`,
  shutdown: () => "The session ended: the server is shutting down.",
};

// Why the stream's WebSocket was refused (close codes from the server).
const CLOSE_CODES = {
  4401: "The stream's one-time ticket was refused (already used or expired). Open a new session.",
  4404: "The server no longer knows this session. Open a new session.",
};

const STATUS_WORDS = {
  consented: null,
  approved: null,
  awaiting_consent: "waiting for the person's consent",
  pending_review: "waiting for a reviewer to approve this synthetic character",
  rejected: "a reviewer rejected this synthetic character",
  revoked: "consent was withdrawn",
};

/** Why an identity cannot be used live, or null when it can. */
export function refusal(identity, now = new Date()) {
  const status = STATUS_WORDS[identity.status];
  if (status === undefined) return `its status is ${identity.status}`;
  if (status !== null) return status;
  if (!identity.allowed_uses.includes("live")) return "consented to offline generation only, not live sessions";
  if (identity.expires_at && new Date(identity.expires_at) <= now) {
    return `consent ended on ${formatTime(identity.expires_at)}`;
  }
  return null;
}

const page = {
  socket: null,
  audio: null,
  player: null,
  microphone: null,
  voice: null, // the decoded agent file (Int16Array)
  voiceName: null,
  streamer: null,
  segments: 0,
  closed: false,
  pendingOnset: null, // performance.now() when the next loud sound would have played here
};

function log(text) {
  const list = $("#log");
  const time = new Date().toLocaleTimeString();
  list.prepend(el("li", {}, el("span", { class: "muted" }, time), " ", text));
  while (list.children.length > 60) list.lastChild.remove();
}

function send(type, fields = {}) {
  if (page.socket && page.socket.readyState === WebSocket.OPEN) {
    page.socket.send(JSON.stringify({ type, ...fields }));
    return true;
  }
  return false;
}

function setState(state) {
  const badge = $("#state");
  badge.textContent = STATE_WORDS[state] || state;
  badge.dataset.state = state;
  badge.className = `badge ${state === "speaking" ? "ok" : state === "listening" ? "warn" : ""}`.trim();
}

function renderIdentities(identities) {
  const box = $("#identities");
  box.replaceChildren();
  $("#identities-empty").hidden = identities.length > 0;
  for (const identity of identities) {
    const why = refusal(identity);
    const id = `identity-${identity.id}`;
    const note = why ? el("span", { class: "muted", id: `${id}-why` }, ` — not available: ${why}`) : null;
    box.append(el("div", { class: "identity-option" },
      el("input", {
        type: "radio", name: "identity", value: identity.id, id,
        disabled: Boolean(why), "aria-describedby": why ? `${id}-why` : null,
      }),
      el("label", { for: id }, identity.display_name, " ",
        el("span", { class: `badge ${why ? "" : "ok"}` }, why ? identity.status.replace("_", " ") : "live consent")),
      note));
  }
}

function controlsFor(open) {
  $("#open").disabled = open;
  for (const id of ["#barge-in", "#end", "#update"]) $(id).disabled = !open;
  $("#microphone").disabled = !open || !page.microphone;
  if (open && !page.microphone) $("#microphone").textContent = "No microphone";
  if (page.microphone) $("#microphone").textContent = page.microphone.enabled ? "Microphone on" : "Microphone off";
  $("#speak").disabled = !open || !page.voice || Boolean(page.streamer);
  for (const input of $("#open-form").querySelectorAll("input, select, textarea")) {
    if (input.type === "radio" && input.disabled && input.getAttribute("aria-describedby")) continue;
    input.disabled = open;
  }
}

function showProblem(box, error) {
  if (error instanceof ApiError) {
    const reasons = error.problem.reasons;
    const lead = error.status === 403 ? "Refused" : error.status === 429 ? "Not now" : "Could not open";
    const text = reasons && reasons.length ? reasons.join("; ") : error.message;
    say(box, `${lead}: ${text}.`, "error");
  } else {
    say(box, error, "error");
  }
}

async function openSession(event) {
  event.preventDefault();
  const form = new FormData($("#open-form"));
  const box = $("#open-message");
  say(box, "");
  const identity = form.get("identity");
  if (!identity) {
    say(box, "Choose an identity first.", "error");
    return;
  }
  const fps = Number(form.get("fps"));
  if (!(fps >= 10 && fps <= 30)) {
    say(box, "Frames per second must be between 10 and 30.", "error");
    return;
  }
  const instructions = String(form.get("instructions") || "").trim();
  const useMicrophone = form.get("microphone") === "on";
  // The audio context starts inside the click, where browsers allow sound.
  page.audio = page.audio || new AudioContext();
  await page.audio.resume();
  $("#open").disabled = true;
  say($("#session-status"), "Asking the gate…");
  let opened;
  try {
    opened = await api("/v1/sessions", {
      method: "POST",
      body: { identity_id: identity, size: form.get("size"), fps, instructions: instructions || undefined },
    });
  } catch (error) {
    showProblem(box, error);
    say($("#session-status"), "No session.");
    $("#open").disabled = false;
    return;
  }
  log(`The gate allowed the session (audit entry ${opened.audit_index}).`);
  const [width, height] = String(form.get("size")).split("x").map(Number);
  const canvas = $("#avatar");
  canvas.width = width;
  canvas.height = height;
  page.closed = false;
  page.segments = 0;
  $("#segments").textContent = "0";
  connect(opened, useMicrophone);
}

/** The stream URL as the page may open it: behind TLS, the secure WebSocket scheme (a proxy
 *  that terminates TLS can make the server name ws:// although the page came over https). */
export function streamUrl(url) {
  return location.protocol === "https:" && url.startsWith("ws://") ? `wss://${url.slice(5)}` : url;
}

function connect(opened, useMicrophone) {
  const socket = new WebSocket(streamUrl(opened.stream_url));
  socket.binaryType = "arraybuffer";
  page.socket = socket;
  page.player = new FramePlayer($("#avatar"), page.audio, { onDraw: drawn });
  socket.addEventListener("open", async () => {
    say($("#session-status"), "Connected; the character is starting.");
    controlsFor(true);
    if (useMicrophone) await startMicrophone();
    controlsFor(true);
  });
  socket.addEventListener("message", (message) => {
    if (typeof message.data === "string") {
      handleEvent(JSON.parse(message.data));
      return;
    }
    let frame;
    try {
      frame = parseFrame(message.data);
    } catch (error) {
      log(`A frame could not be read: ${error.message}`);
      return;
    }
    if (page.pendingOnset !== null && !page.pendingOnset.frame) {
      const at = firstLoud(frame.audio);
      if (at >= 0) page.pendingOnset.frame = { index: frame.index, offset: at };
    }
    page.player.push(frame);
  });
  socket.addEventListener("close", (event) => {
    if (!page.closed) {
      const words = CLOSE_CODES[event.code] || `The connection to the server was lost (code ${event.code}).`;
      finish(words, "error");
    }
  });
}

async function startMicrophone() {
  try {
    page.microphone = await Microphone.open(page.audio, (pcm) => {
      send("input_audio_buffer.append", { audio: pcmToBase64(pcm) });
    });
    log("The microphone is on: the character hears you.");
  } catch (error) {
    page.microphone = null;
    log(`No microphone (${error.message}); the character will not hear you.`);
  }
}

function drawn(frame, drawnAt) {
  const onset = page.pendingOnset;
  if (onset && onset.frame && onset.frame.index === frame.index) {
    const heard = drawnAt + (onset.frame.offset / 24000) * 1000;
    const latency = Math.max(0, heard - onset.expected);
    const buffer = Math.round(page.player.queueDelay * 1000);
    $("#latency").textContent = `${Math.round(latency)} ms (of which jitter buffer ${buffer} ms)`;
    $("#latency").dataset.ms = String(Math.round(latency));
    page.pendingOnset = null;
  }
}

function showUnderstood({ instructions, understood }) {
  const text = understood.length
    ? `Understood: ${understood.map((word) => word.replaceAll("_", " ")).join(", ")}.`
    : `No behaviour was understood in “${instructions || ""}”; try words like smile, calm, look left.`;
  say($("#understood"), text, understood.length ? "ok" : "info");
  log(text);
}

function handleEvent(event) {
  switch (event.type) {
    case "session.created": {
      const { fps, size } = event.session;
      say($("#session-status"), `Live: ${size[0]} × ${size[1]} at ${fps} frames per second.`);
      document.body.dataset.session = "open";
      log(`Session ${event.session.id} started.`);
      // The instructions sent at open, and what the character made of them.
      if (event.session.understood) showUnderstood(event.session);
      break;
    }
    case "state.changed":
      // Shown with the frame it belongs to, not when the message arrives.
      page.player.atPts(event.pts, () => {
        if (!page.closed) setState(event.state);
      });
      log(`The character is ${STATE_WORDS[event.state] || event.state} (frame ${event.index}).`);
      break;
    case "session.updated":
      showUnderstood(event.session);
      if (event.session.review_id) log(`A reviewer approved the held instructions (${event.session.review_id}).`);
      break;
    case "session.instructions_held":
      // Not applied, not refused: a reviewer decides; the session goes on meanwhile.
      say($("#understood"), `Instructions held: ${event.reason}. The character goes on as before until a reviewer decides.`, "info");
      log(`Instructions held for review (${event.review_id}): ${event.reason}.`);
      break;
    case "segment.signed":
      page.segments += 1;
      $("#segments").textContent = String(page.segments);
      break;
    case "policy.stopped": {
      const ids = event.rule_ids || [];
      const rules = ids.length && !ids.every((id) => event.reason.includes(id)) ? ` (rules ${ids.join(", ")})` : "";
      const text = `Stopped by the policy: ${event.reason}${rules}.`;
      say($("#agent-status"), text, "error");
      log(text);
      break;
    }
    case "error": {
      const error = event.error || {};
      if (error.code === "instructions_refused") {
        say($("#understood"), `Instructions refused: ${error.message}.`, "error");
      }
      log(`The server reported: ${error.message || "an error"}.`);
      break;
    }
    case "session.closed": {
      const words = (CLOSED_WORDS[event.reason] || (() => `The session ended (${event.reason}).`))(event.detail);
      finish(words, event.reason === "client_closed" ? "info" : "error", event.reason);
      break;
    }
    default:
      log(`Unknown event ${event.type}.`);
  }
}

function finish(words, kind, reason = "connection") {
  if (page.closed) return;
  page.closed = true;
  stopVoice();
  if (page.microphone) page.microphone.close();
  page.microphone = null;
  if (page.player) page.player.stop();
  if (page.socket && page.socket.readyState === WebSocket.OPEN) page.socket.close();
  page.socket = null;
  setState("closed");
  $("#state").textContent = "closed";
  say($("#session-status"), `Session closed. ${words}`, kind);
  $("#session-status").dataset.reason = reason;
  document.body.dataset.session = "closed";
  log(words);
  controlsFor(false);
}

function stopVoice() {
  if (page.streamer) page.streamer.stop();
  page.streamer = null;
  page.pendingOnset = null;
}

async function pickVoice() {
  const file = $("#agent-file").files[0];
  page.voice = null;
  $("#speak").disabled = true;
  if (!file) return;
  say($("#agent-status"), `Reading ${file.name}…`);
  try {
    page.voice = await decodeVoice(file);
    page.voiceName = file.name;
    say($("#agent-status"), `${file.name}: ${(page.voice.length / 24000).toFixed(1)} s ready to speak.`);
  } catch (error) {
    say($("#agent-status"), error, "error");
  }
  $("#speak").disabled = !page.socket || !page.voice || Boolean(page.streamer);
}

function speak() {
  if (!page.voice || page.streamer) return;
  const transcript = $("#agent-transcript").value.trim();
  if (transcript) send("response.output_audio_transcript.delta", { delta: transcript });
  const streamer = new VoiceStreamer(page.voice, (pcm) => {
    send("response.output_audio.delta", { delta: pcmToBase64(pcm) });
  }, {
    onEnd: (complete) => {
      if (page.streamer === streamer) page.streamer = null;
      if (page.closed) return; // the session's end says why; keep the policy's words
      say($("#agent-status"), complete ? `Sent all of ${page.voiceName}.` : `Stopped sending ${page.voiceName}.`);
      $("#speak").disabled = !page.socket || !page.voice;
    },
  });
  page.streamer = streamer;
  $("#speak").disabled = true;
  streamer.start();
  const expected = streamer.onsetTime();
  page.pendingOnset = expected === null ? null : { expected, frame: null };
  say($("#agent-status"), `Speaking ${page.voiceName} (${streamer.seconds.toFixed(1)} s)…`);
  log(`The agent speaks ${page.voiceName}.`);
}

function bargeIn() {
  stopVoice();
  send("response.cancel");
  log("Barge-in: the character stops speaking.");
}

function endSession() {
  stopVoice();
  say($("#session-status"), "Ending the session…");
  if (!send("session.close")) return;
  // The server answers with session.closed; if it does not within 5 s, close from here.
  const socket = page.socket;
  setTimeout(() => {
    if (!page.closed && page.socket === socket) finish("The server did not answer; the connection was closed here.", "error");
  }, 5000);
}

function toggleMicrophone() {
  if (!page.microphone) return;
  const on = !page.microphone.enabled;
  page.microphone.setEnabled(on);
  $("#microphone").setAttribute("aria-pressed", String(on));
  $("#microphone").textContent = on ? "Microphone on" : "Microphone off";
}

function updateInstructions(event) {
  event.preventDefault();
  const text = $("#new-instructions").value.trim();
  if (!text) {
    say($("#understood"), "Write the new instructions first.", "error");
    return;
  }
  send("session.update", { session: { instructions: text } });
  say($("#understood"), "Sent; waiting for what was understood…");
}

function showRate() {
  if (page.player && !page.closed) {
    const fps = page.player.fps();
    $("#fps").textContent = `${fps} frames per second`;
    $("#fps").dataset.fps = String(fps);
    const sync = page.player.sync();
    if (sync !== null) {
      $("#sync").textContent = `within ${Math.round(sync * 1000)} ms`;
      $("#sync").dataset.ms = String(Math.round(sync * 1000));
      $("#sync").dataset.soundFrames = String(page.player.soundFrames);
    }
  }
}

async function main() {
  const user = await startPage({ roles: ["researcher"] });
  if (!user) return;
  if (!user.scopes.includes("generate:live")) {
    $("#setup").prepend(el("p", { class: "notice", role: "alert" },
      "Your access does not include live sessions (standing: ", user.standing,
      "). Ask for live use on your application."));
    $("#open").disabled = true;
  }
  try {
    renderIdentities(await api("/v1/consent/identities"));
  } catch (error) {
    say($("#open-message"), `Your identities could not be loaded: ${error.message}`, "error");
  }
  $("#open-form").addEventListener("submit", openSession);
  $("#update-form").addEventListener("submit", updateInstructions);
  $("#agent-file").addEventListener("change", pickVoice);
  $("#speak").addEventListener("click", speak);
  $("#barge-in").addEventListener("click", bargeIn);
  $("#end").addEventListener("click", endSession);
  $("#microphone").addEventListener("click", toggleMicrophone);
  window.addEventListener("pagehide", () => send("session.close"));
  setInterval(showRate, 500);
  document.body.dataset.ready = "live";
}

main();
