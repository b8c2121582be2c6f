// The subject's consent page: an invitation link (#<token>) leads through the statement, camera
// stills, a spoken recording and sending them; a revocation link (#revoke=<token>) withdraws.
// The capability token lives in the URL fragment, which browsers never send to the server; it
// goes to the API in the Consent-Token header only. Subjects have no account: no sign-in here.

import { problemOf } from "./lib/api.js";
import { copyText, el } from "./lib/page.js";

const MAX_STILLS = 3;
const MAX_RECORD_SECONDS = 110; // the server refuses recordings over 120 s
const MIN_RECORD_SECONDS = 2;

const byId = (id) => document.getElementById(id);
const status = byId("status");

/** A failed call to the consent API: the HTTP status and the problem+json body. */
class ConsentProblem extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }

  get slug() {
    return (this.problem.type || "").split(":").pop();
  }
}

async function call(path, token, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: { "Consent-Token": token } });
  } catch {
    throw new ConsentProblem(0, { type: "offline", detail: "the server could not be reached" });
  }
  if (!response.ok) throw new ConsentProblem(response.status, await problemOf(response));
  return response.json();
}

function announce(message) {
  status.textContent = message;
}

function show(section) {
  section.hidden = false;
  section.focus({ preventScroll: false });
  section.scrollIntoView({ block: "start" });
}

// -- Plain words for what the server says ----------------------------------------------------

const LINK_GONE = {
  used: ["This invitation link was already used: your consent was sent with it before.",
    "Nothing more to do. If you did not send it yourself, tell the researcher."],
  spent: ["This invitation link was used for too many attempts that were not accepted.",
    "Ask the researcher for a new invitation link."],
  expired: ["This invitation link has expired.", "Ask the researcher for a new invitation link."],
  revoked: ["Consent for this person was withdrawn, so this link no longer works.",
    "If you want to take part again, ask the researcher for a new invitation."],
};

/** [what happened, what to try next] for a problem the link itself has. */
function linkTrouble(problem) {
  if (problem.slug === "link-gone") {
    return LINK_GONE[problem.problem.why] || [problem.message, "Ask the researcher for a new link."];
  }
  if (problem.slug === "link-not-found" || problem.status === 401) {
    return ["This link is not one we know.",
      "Open the whole link from the message you were sent; if it still fails, ask the researcher for a new one."];
  }
  return null;
}

/** Each reason a capture was refused, as { reason, next } in plain words. */
function refusalReasons(problem, phrase) {
  const slug = problem.slug;
  const checks = {
    "face-mismatch": {
      reason: "The face in your stills did not match the photos the researcher has of you.",
      next: "Make sure it is you, alone, facing the camera in good light; remove those stills and take new ones.",
    },
    "protected-identity": {
      reason: "The face in your stills looks like a person who is protected from this platform.",
      next: "This cannot be solved on this page: please contact the researcher.",
    },
    "phrase-not-heard": {
      reason: `Your challenge phrase “${phrase}” was not heard in your recording.`,
      next: `Record again in a quiet place, speak clearly, and end with “My challenge phrase is ${phrase}.”`,
    },
    watermarked: {
      reason: "Your camera picture looks like a video made by this platform, not a live camera.",
      next: "Use your own camera, pointed at your face.",
    },
  };
  if (slug === "consent-refused") {
    const known = (problem.problem.checks || []).map((check) => checks[check]).filter(Boolean);
    return known.length ? known : [{ reason: problem.message, next: "Check your stills and recording, then try again." }];
  }
  const single = {
    "no-face": ["No face was found in one of your stills.",
      "Face the camera in good light, with your whole face in the picture, and take the still again."],
    "multiple-faces": ["One of your stills shows more than one face.",
      "Make sure only you are in the picture, then take the still again."],
    "unreadable-image": ["One of your stills could not be read.", "Remove it and take it again."],
    "image-too-large": ["One of your stills is too large.", "Remove it and take it again."],
    "unreadable-media": ["Your recording could not be used (it may be too short or silent).",
      "Record again, reading the whole statement aloud."],
    "upload-too-large": ["Your stills and recording are too large to send.",
      "Make a shorter recording, then send again."],
    offline: ["The server could not be reached.", "Check your internet connection, then send again."],
  }[slug];
  if (single) return [{ reason: single[0], next: single[1] }];
  return [{ reason: problem.message, next: "Try again; if it keeps failing, contact the researcher." }];
}

// -- Invitation ------------------------------------------------------------------------------

const USE_WORDS = {
  offline: "video clips of your face, animated by a computer (for example speaking or smiling), made from your photos",
  live: "live video in which your face, animated by a computer, follows another person's expressions in real time",
};

function longDate(iso) {
  return iso ? new Date(iso).toLocaleDateString(undefined, { dateStyle: "long" }) : "—";
}

function showLinkProblem(problem) {
  const [reason, next] = linkTrouble(problem) || [problem.message, "Ask the researcher for a new link."];
  byId("link-problem-reason").textContent = reason;
  byId("link-problem-next").textContent = next;
  for (const id of ["terms", "stills-step", "voice-step", "send-step", "refused"]) byId(id).hidden = true;
  announce("This link cannot be used.");
  show(byId("link-problem"));
}

async function showInvitation(token) {
  let invitation;
  try {
    invitation = await call("/v1/consent/invitation", token);
  } catch (error) {
    showLinkProblem(error);
    document.body.dataset.ready = "consent";
    return;
  }
  const researcher = invitation.researcher_name || invitation.researcher;
  byId("invited").textContent =
    `${researcher} asks for your consent to make videos of you, enrolled as “${invitation.identity_display_name}”.`;
  byId("fact-what").replaceChildren(el("ul", {},
    invitation.allowed_uses.map((use) => el("li", {}, USE_WORDS[use] || use))));
  byId("fact-who").textContent =
    `The researcher ${researcher}, with lpm-guard. Every video made carries a hidden watermark and a signed record of how it was made.`;
  byId("fact-excluded").textContent =
    invitation.excluded_content || "Nothing beyond what the platform's content policy already forbids.";
  byId("fact-until").textContent =
    `${longDate(invitation.consent_expires_at)}, unless you withdraw earlier.`;
  byId("statement").textContent = invitation.statement;
  byId("phrase").textContent = invitation.challenge_phrase;
  byId("phrase-again").textContent = invitation.challenge_phrase;
  byId("link-until").textContent =
    `This invitation link works once, until ${new Date(invitation.link_expires_at).toLocaleString()}.`;
  for (const id of ["terms", "stills-step", "voice-step", "send-step"]) byId(id).hidden = false;
  byId("title").textContent = "Your consent to research videos";
  announce("Your invitation is open. Read it, then follow the steps below.");
  new Capture(token, invitation).wire();
  document.body.dataset.ready = "consent";
}

// -- Capture: stills, recording, sending -----------------------------------------------------

class Capture {
  constructor(token, invitation) {
    this.token = token;
    this.invitation = invitation;
    this.stills = []; // { blob, url }
    this.recording = null; // { blob, url, seconds }
    this.camera = null; // the video MediaStream
    this.recorder = null; // the running recording
  }

  wire() {
    byId("camera").addEventListener("click", () => this.startCamera());
    byId("still").addEventListener("click", () => this.takeStill());
    byId("record").addEventListener("click", () => this.startRecording());
    byId("stop").addEventListener("click", () => this.stopRecording());
    byId("send").addEventListener("click", () => this.send());
    this.update();
  }

  async startCamera() {
    try {
      this.camera = await openDevice({
        video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 720 } },
      });
    } catch (error) {
      announce(`${deviceTrouble(error, "camera")} Then press Start the camera again.`);
      return;
    }
    const preview = byId("preview");
    preview.srcObject = this.camera;
    await preview.play().catch(() => {});
    byId("camera-off").hidden = true;
    byId("camera").hidden = true;
    announce("The camera is on. Look at it and press Take a still.");
    this.update();
    byId("still").focus();
  }

  async capture() {
    const video = byId("preview");
    const canvas = el("canvas", { width: video.videoWidth, height: video.videoHeight });
    canvas.getContext("2d").drawImage(video, 0, 0);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
    return { blob, url: URL.createObjectURL(blob) };
  }

  async takeStill(replacing = null) {
    if (!this.camera || !byId("preview").videoWidth) return;
    const still = await this.capture();
    if (replacing === null) {
      if (this.stills.length >= MAX_STILLS) return;
      this.stills.push(still);
    } else {
      URL.revokeObjectURL(this.stills[replacing].url);
      this.stills[replacing] = still;
    }
    const number = replacing === null ? this.stills.length : replacing + 1;
    this.renderStills();
    if (replacing !== null) byId("stills").querySelector(`[aria-label="Retake still ${number}"]`).focus();
    announce(`Still ${number} taken.`);
  }

  removeStill(index) {
    URL.revokeObjectURL(this.stills[index].url);
    this.stills.splice(index, 1);
    this.renderStills();
    announce(`Still ${index + 1} removed.`);
    (this.stills.length ? byId("stills").querySelector("button") : byId("still"))?.focus();
  }

  renderStills() {
    byId("stills").replaceChildren(...this.stills.map((still, index) => el("li", {},
      el("img", { src: still.url, alt: `Still ${index + 1}` }),
      el("div", { class: "actions" },
        el("button", {
          type: "button", class: "secondary", "aria-label": `Retake still ${index + 1}`,
          onclick: () => this.takeStill(index),
        }, "Retake"),
        el("button", {
          type: "button", class: "secondary", "aria-label": `Remove still ${index + 1}`,
          onclick: () => this.removeStill(index),
        }, "Remove")))));
    this.update();
  }

  async startRecording() {
    const button = byId("record");
    button.disabled = true;
    if (this.recording) {
      URL.revokeObjectURL(this.recording.url);
      this.recording = null;
      byId("playback").hidden = true;
      byId("playback").removeAttribute("src");
    }
    try {
      this.recorder = await Recorder.start((seconds, level) => this.progress(seconds, level));
    } catch (error) {
      announce(`${deviceTrouble(error, "microphone")} Then press Record again.`);
      button.disabled = false;
      this.update();
      return;
    }
    byId("stop").disabled = false;
    byId("stop").focus();
    byId("recording-state").textContent = "Recording… read the statement, then say your challenge phrase.";
    announce("Recording. Press Stop when you are done.");
    document.body.dataset.recording = "on";
    this.update();
  }

  progress(seconds, level) {
    byId("elapsed").textContent = clock(seconds);
    byId("level").value = Math.min(1, Math.sqrt(level) * 2);
    if (seconds >= MAX_RECORD_SECONDS) this.stopRecording();
  }

  async stopRecording() {
    const recorder = this.recorder;
    if (!recorder) return;
    this.recorder = null;
    byId("stop").disabled = true;
    const { blob, seconds } = await recorder.stop();
    byId("level").value = 0;
    delete document.body.dataset.recording;
    byId("record").textContent = "Record again";
    byId("record").disabled = false;
    if (seconds < MIN_RECORD_SECONDS) {
      byId("recording-state").textContent = `That recording lasts ${seconds.toFixed(1)} s: too short. Press Record again and read the whole statement.`;
      this.update();
      return;
    }
    this.recording = { blob, seconds, url: URL.createObjectURL(blob) };
    const playback = byId("playback");
    playback.src = this.recording.url;
    playback.hidden = false;
    byId("recording-state").textContent = `Recorded ${clock(seconds)}. Listen to it below; if you cannot hear the whole statement and your phrase, record again.`;
    announce("Recording stopped.");
    this.update();
  }

  update() {
    const recording = Boolean(this.recorder);
    byId("still").disabled = !this.camera || this.stills.length >= MAX_STILLS;
    byId("stills-count").textContent = this.stills.length === 0
      ? "No stills yet."
      : `${this.stills.length} of ${MAX_STILLS} stills taken.` +
        (this.stills.length >= MAX_STILLS ? " Remove one to take another." : "");
    const ready = this.stills.length > 0 && this.recording !== null && !recording;
    byId("send").disabled = !ready || this.sending;
    const missing = [];
    if (this.stills.length === 0) missing.push("take at least one still");
    if (this.recording === null) missing.push("make a recording");
    byId("send-hint").textContent = missing.length
      ? `Before sending: ${missing.join(" and ")}.`
      : "Ready to send.";
  }

  async send() {
    const form = new FormData();
    this.stills.forEach((still, index) => form.append("stills", still.blob, `still-${index + 1}.jpg`));
    form.append("recording", this.recording.blob, "recording.wav");
    this.sending = true;
    this.update();
    byId("refused").hidden = true;
    byId("send-step").setAttribute("aria-busy", "true");
    announce("Checking your face and your recording… this takes up to a minute.");
    let receipt;
    try {
      receipt = await call("/v1/consent/invitation/consent", this.token, { method: "POST", body: form });
    } catch (error) {
      this.sending = false;
      byId("send-step").removeAttribute("aria-busy");
      this.update();
      if (linkTrouble(error) && error.slug !== "consent-refused") {
        showLinkProblem(error);
      } else {
        this.showRefusal(error);
      }
      document.body.dataset.result = "refused";
      return;
    }
    this.finish(receipt);
  }

  showRefusal(problem) {
    byId("refused-reasons").replaceChildren(...refusalReasons(problem, this.invitation.challenge_phrase)
      .map(({ reason, next }) => el("li", {}, el("strong", {}, reason), " ", el("span", {}, `What to try: ${next}`))));
    announce("Your consent was not accepted. The reasons are shown below.");
    show(byId("refused"));
  }

  finish(receipt) {
    if (this.camera) this.camera.getTracks().forEach((track) => track.stop());
    for (const id of ["terms", "stills-step", "voice-step", "send-step", "refused"]) byId(id).hidden = true;
    // The link is built on the address this page was opened at: the one the subject reached.
    const link = `${location.origin}${location.pathname}#revoke=${receipt.revocation_token}`;
    const uses = this.invitation.allowed_uses.map((use) => USE_WORDS[use] || use);
    byId("accepted-now").replaceChildren(
      el("li", {}, `${this.invitation.researcher_name || this.invitation.researcher} may now make ${uses.join(", and ")}.`),
      el("li", {}, `Your consent lasts until ${longDate(receipt.expires_at)}, unless you withdraw it.`),
      el("li", {}, "Your stills and recording are kept encrypted, as proof of your consent."),
      el("li", {}, "Every video made of you carries a hidden watermark and a signed record."));
    byId("revocation-link").value = link;
    byId("revocation-open").href = link;
    byId("copy").addEventListener("click", async () => {
      const copied = await copyText(link, byId("revocation-link"));
      byId("copy-result").textContent = copied
        ? "Copied. Paste it somewhere safe now."
        : "Your browser did not allow copying: the link is selected, copy it yourself.";
    });
    byId("title").textContent = "Consent recorded";
    announce("Thank you. Your consent is recorded. Save your withdrawal link now.");
    show(byId("accepted"));
    document.body.dataset.result = "accepted";
  }
}

/** getUserMedia, or a plain error where the browser offers no camera or microphone at all. */
function openDevice(constraints) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    const error = new Error("no media devices");
    error.name = window.isSecureContext ? "NotSupportedError" : "InsecureContext";
    return Promise.reject(error);
  }
  return navigator.mediaDevices.getUserMedia(constraints);
}

/** Why the camera or microphone did not start, and what to do, in plain words. */
function deviceTrouble(error, device) {
  const words = {
    NotAllowedError: `The ${device} was not allowed. Allow this page to use it (in the address bar or your browser's settings).`,
    NotFoundError: `No ${device} was found on this device. Connect one, or use a phone or laptop that has one.`,
    NotReadableError: `The ${device} is busy: another app may be using it. Close that app.`,
    OverconstrainedError: `The ${device} could not be used. Try another browser.`,
    InsecureContext: `The ${device} only works on a secure (https) page. Open the link exactly as you received it.`,
    NotSupportedError: `This browser cannot use a ${device}. Try a recent Chrome, Firefox, Safari or Edge.`,
  };
  return words[error.name] || `The ${device} could not be started (${error.message}).`;
}

function clock(seconds) {
  const whole = Math.floor(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

/** A microphone recording through an AudioWorklet, kept as 16-bit PCM WAV (what every server
 * decoder reads; MediaRecorder's formats differ between browsers). */
class Recorder {
  static async start(onProgress) {
    // The context and its module first: the microphone opens only when all is ready to listen.
    const context = new AudioContext();
    try {
      await context.audioWorklet.addModule("/consent.worklet.js");
      const stream = await openDevice({
        audio: { channelCount: 1, echoCancellation: false },
      });
      return new Recorder(context, stream, onProgress);
    } catch (error) {
      context.close();
      throw error;
    }
  }

  constructor(context, stream, onProgress) {
    this.context = context;
    this.stream = stream;
    this.blocks = [];
    this.length = 0;
    this.source = context.createMediaStreamSource(stream);
    this.node = new AudioWorkletNode(context, "consent-recorder", { numberOfOutputs: 1 });
    this.stopped = new Promise((resolve) => {
      this.node.port.onmessage = (event) => {
        if (event.data.done) {
          resolve();
          return;
        }
        this.blocks.push(event.data.samples);
        this.length += event.data.samples.length;
        onProgress(this.length / context.sampleRate, event.data.rms);
      };
    });
    // The node writes silence: connected so that the context keeps pulling it.
    this.source.connect(this.node).connect(context.destination);
    context.resume();
  }

  async stop() {
    this.node.port.postMessage("stop");
    await this.stopped;
    this.stream.getTracks().forEach((track) => track.stop());
    this.source.disconnect();
    this.node.disconnect();
    const rate = this.context.sampleRate;
    await this.context.close();
    return { blob: wav(this.blocks, this.length, rate), seconds: this.length / rate };
  }
}

/** A mono 16-bit PCM WAV file of float blocks (-1..1). */
function wav(blocks, length, rate) {
  const buffer = new ArrayBuffer(44 + length * 2);
  const view = new DataView(buffer);
  const text = (offset, value) => [...value].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF");
  view.setUint32(4, 36 + length * 2, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true); // fmt chunk size
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true); // bytes per second
  view.setUint16(32, 2, true); // bytes per frame
  view.setUint16(34, 16, true); // bits per sample
  text(36, "data");
  view.setUint32(40, length * 2, true);
  let offset = 44;
  for (const block of blocks) {
    for (const sample of block) {
      const clamped = Math.max(-1, Math.min(1, sample));
      view.setInt16(offset, clamped < 0 ? clamped * 0x8000 : clamped * 0x7fff, true);
      offset += 2;
    }
  }
  return new Blob([buffer], { type: "audio/wav" });
}

// -- Revocation ------------------------------------------------------------------------------

function showRevocation(token) {
  byId("title").textContent = "Withdraw your consent";
  const confirm = byId("confirm");
  const revoke = byId("revoke");
  confirm.addEventListener("change", () => { revoke.disabled = !confirm.checked; });
  revoke.addEventListener("click", async () => {
    revoke.disabled = true;
    announce("Withdrawing your consent…");
    try {
      await call("/v1/consent/revocation", token, { method: "POST" });
    } catch (error) {
      const words = {
        "link-gone": "Your consent was already withdrawn: nothing more to do.",
        "link-not-found": "This withdrawal link is not one we know. Open the whole link you saved; if it still fails, contact the researcher.",
        "wrong-state": "Your consent was already withdrawn: nothing more to do.",
        offline: "The server could not be reached. Check your internet connection, then try again.",
      }[error.slug] || `Your consent could not be withdrawn: ${error.message}. Try again, or contact the researcher.`;
      byId("status").textContent = words;
      status.dataset.kind = "error";
      revoke.disabled = !confirm.checked || error.slug === "link-gone" || error.slug === "wrong-state";
      document.body.dataset.result = "revoke-failed";
      return;
    }
    byId("revocation").hidden = true;
    announce("Your consent is withdrawn.");
    show(byId("revoked"));
    document.body.dataset.result = "revoked";
  });
  announce("You can withdraw your consent here.");
  byId("revocation").hidden = false;
  document.body.dataset.ready = "consent";
}

// -- Start -----------------------------------------------------------------------------------

const fragment = decodeURIComponent(location.hash.slice(1));
window.addEventListener("hashchange", () => location.reload());
if (fragment.startsWith("revoke=")) {
  showRevocation(fragment.slice("revoke=".length));
} else if (fragment) {
  showInvitation(fragment);
} else {
  showLinkProblem(new ConsentProblem(401, { detail: "no link" }));
  byId("link-problem-reason").textContent = "This page needs the link you were sent.";
  byId("link-problem-next").textContent = "Open the whole link from the message the researcher sent you.";
  document.body.dataset.ready = "consent";
}
