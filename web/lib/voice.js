// Audio for the live session page: the microphone as 24 kHz PCM16 (through the AudioWorklet in
// pcm-worklet.js), an audio file decoded and resampled to 24 kHz with WebAudio, and a streamer
// that sends it in real time as a voice agent's TTS would.

import { AUDIO_RATE, firstLoud } from "./frames.js";

/** PCM16 samples to base64 (the protocol's audio fields). */
export function pcmToBase64(samples) {
  const bytes = new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/**
 * An audio file (any format the browser decodes) to mono PCM16 at 24 kHz: decoded by WebAudio,
 * then resampled (and mixed down) by rendering it through a 24 kHz OfflineAudioContext.
 */
export async function decodeVoice(file) {
  const data = await file.arrayBuffer();
  let decoded;
  try {
    decoded = await new OfflineAudioContext(1, 1, AUDIO_RATE).decodeAudioData(data);
  } catch {
    throw new Error(`${file.name} is not audio this browser can decode (try a WAV or MP3 file)`);
  }
  const length = Math.ceil(decoded.duration * AUDIO_RATE);
  if (length === 0) throw new Error(`${file.name} holds no sound`);
  const offline = new OfflineAudioContext(1, length, AUDIO_RATE);
  const source = offline.createBufferSource();
  source.buffer = decoded;
  source.connect(offline.destination);
  source.start();
  const rendered = (await offline.startRendering()).getChannelData(0);
  const pcm = new Int16Array(rendered.length);
  for (let i = 0; i < rendered.length; i++) {
    pcm[i] = Math.round(Math.max(-1, Math.min(1, rendered[i])) * 32767);
  }
  return pcm;
}

/**
 * Sends `pcm` (24 kHz PCM16) through `send(chunk)` in real time, `lead` seconds ahead of the
 * moment it would play (a TTS streams a little ahead too; the server shows the audio from the
 * next frame, so the lead keeps it from running dry). `onOnset` hears, once, when the first
 * loud sample was sent: it is what the latency is measured against.
 */
export class VoiceStreamer {
  constructor(pcm, send, { chunkSeconds = 0.1, lead = 0.3, onEnd = () => {} } = {}) {
    this.pcm = pcm;
    this.send = send;
    this.chunk = Math.round(chunkSeconds * AUDIO_RATE);
    this.lead = lead;
    this.onEnd = onEnd;
    this.sent = 0;
    this.timer = null;
    this.onset = firstLoud(pcm);
    this.startedAt = null;
  }

  get seconds() {
    return this.pcm.length / AUDIO_RATE;
  }

  start() {
    this.startedAt = performance.now();
    this.tick();
  }

  tick() {
    const elapsed = (performance.now() - this.startedAt) / 1000;
    const due = Math.min(this.pcm.length, Math.round((elapsed + this.lead) * AUDIO_RATE));
    while (this.sent < due) {
      const end = Math.min(this.sent + this.chunk, this.pcm.length);
      this.send(this.pcm.subarray(this.sent, end));
      this.sent = end;
    }
    if (this.sent >= this.pcm.length) {
      this.timer = null;
      this.onEnd(true);
      return;
    }
    this.timer = setTimeout(() => this.tick(), 40);
  }

  /** When the first loud sample would have played here, had the file played from the start
   *  of sending (performance.now() milliseconds), or null for a silent file. */
  onsetTime() {
    if (this.onset < 0 || this.startedAt === null) return null;
    return this.startedAt + (this.onset / AUDIO_RATE) * 1000;
  }

  stop() {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
      this.onEnd(false);
    }
  }
}

/**
 * The microphone as the user's voice: getUserMedia, then the pcm16-24k worklet, whose chunks go
 * to `send(int16)`. The worklet's output is connected through a muted gain so the graph pulls
 * it, without the user hearing themselves.
 */
export class Microphone {
  static async open(context, send) {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
    });
    await context.audioWorklet.addModule("/lib/pcm-worklet.js");
    const source = context.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(context, "pcm16-24k", {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      processorOptions: { chunkSamples: 2400 },
    });
    const mute = context.createGain();
    mute.gain.value = 0;
    source.connect(node).connect(mute).connect(context.destination);
    return new Microphone(stream, source, node, mute, send);
  }

  constructor(stream, source, node, mute, send) {
    this.stream = stream;
    this.source = source;
    this.node = node;
    this.mute = mute;
    this.enabled = true;
    node.port.onmessage = (event) => {
      if (this.enabled) send(event.data);
    };
  }

  /** Mute or unmute: a muted microphone sends nothing (the track is disabled too). */
  setEnabled(enabled) {
    this.enabled = enabled;
    for (const track of this.stream.getAudioTracks()) track.enabled = enabled;
  }

  close() {
    this.enabled = false;
    for (const track of this.stream.getTracks()) track.stop();
    this.source.disconnect();
    this.node.disconnect();
    this.mute.disconnect();
    this.node.port.onmessage = null;
  }
}
