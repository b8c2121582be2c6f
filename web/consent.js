// The subject's consent page. The capability token lives in the URL fragment, which browsers
// never send to the server; it goes to the API in the Consent-Token header only.
"use strict";

const $ = (id) => document.getElementById(id);
const fragment = decodeURIComponent(location.hash.slice(1));
const stills = [];
let recording = null;
let stream = null;

function say(text) {
  $("status").textContent = text;
}

async function problem(response) {
  try {
    const body = await response.json();
    return [body.title, body.detail].filter(Boolean).join(": ");
  } catch {
    return `HTTP ${response.status}`;
  }
}

async function api(path, token, options = {}) {
  const headers = { "Consent-Token": token, ...(options.headers || {}) };
  return fetch(path, { ...options, headers });
}

async function showInvitation(token) {
  const response = await api("/v1/consent/invitation", token);
  if (!response.ok) {
    say(await problem(response));
    return;
  }
  const invitation = await response.json();
  $("statement").textContent = invitation.statement;
  $("researcher").textContent = invitation.researcher;
  $("uses").textContent = invitation.allowed_uses.join(", ");
  $("excluded").textContent = invitation.excluded_content || "—";
  $("expires").textContent = new Date(invitation.consent_expires_at).toLocaleDateString();
  $("phrase").textContent = invitation.challenge_phrase;
  $("invitation").hidden = false;
  say(`You are invited to consent as “${invitation.identity_display_name}”.`);
  wireCapture(token);
}

function updateCaptured() {
  const parts = [`${stills.length} still(s)`];
  parts.push(recording ? `a recording of ${Math.round(recording.size / 1024)} KiB` : "no recording");
  $("captured").textContent = parts.join(", ") + ".";
  $("send").disabled = !(stills.length && recording);
}

function wireCapture(token) {
  $("camera").addEventListener("click", async () => {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    } catch (error) {
      say(`The camera or microphone is not available: ${error.message}`);
      return;
    }
    $("preview").srcObject = stream;
    $("still").disabled = $("record").disabled = false;
  });

  $("still").addEventListener("click", () => {
    const video = $("preview");
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      if (stills.length >= 3) stills.shift();
      stills.push(blob);
      updateCaptured();
    }, "image/png");
  });

  let recorder = null;
  $("record").addEventListener("click", () => {
    if (recorder && recorder.state === "recording") {
      recorder.stop();
      return;
    }
    const chunks = [];
    recorder = new MediaRecorder(new MediaStream(stream.getAudioTracks()));
    recorder.ondataavailable = (event) => chunks.push(event.data);
    recorder.onstop = () => {
      recording = new Blob(chunks, { type: recorder.mimeType });
      $("record").textContent = "Record again";
      updateCaptured();
    };
    recorder.start();
    $("record").textContent = "Stop recording";
  });

  $("send").addEventListener("click", async () => {
    const form = new FormData();
    stills.forEach((blob, i) => form.append("stills", blob, `still-${i}.png`));
    form.append("recording", recording, "recording.webm");
    $("send").disabled = true;
    say("Checking your face and your recording…");
    const response = await api("/v1/consent/invitation/consent", token, {
      method: "POST",
      body: form,
    });
    if (!response.ok) {
      say(`Not accepted — ${await problem(response)}`);
      $("send").disabled = false;
      return;
    }
    const receipt = await response.json();
    if (stream) stream.getTracks().forEach((track) => track.stop());
    $("invitation").hidden = true;
    $("receipt").hidden = false;
    $("revocation-link").href = receipt.revocation_url;
    $("revocation-link").textContent = receipt.revocation_url;
    say("Thank you. Your consent is recorded.");
  });
}

function showRevocation(token) {
  $("revocation").hidden = false;
  say("You can withdraw your consent here.");
  $("revoke").addEventListener("click", async () => {
    const response = await api("/v1/consent/revocation", token, { method: "POST" });
    say(response.ok ? "Your consent is withdrawn." : await problem(response));
    $("revoke").disabled = response.ok;
  });
}

if (fragment.startsWith("revoke=")) {
  showRevocation(fragment.slice("revoke=".length));
} else if (fragment) {
  showInvitation(fragment);
} else {
  say("This page needs the link you were sent.");
}
