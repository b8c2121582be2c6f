// The live session's video frames: parsing the binary LPMF messages (docs/live.md) and playing
// them on a <canvas> with each frame's audio scheduled through WebAudio at the frame's
// presentation time, so that picture and sound stay in sync.

export const AUDIO_RATE = 24000;
const MAGIC = [0x4c, 0x50, 0x4d, 0x46]; // "LPMF"
const VERSION = 1;
const HEADER_BYTES = 26;

/**
 * One binary message to { index, pts (seconds), jpeg (Uint8Array), audio (Int16Array) }.
 * Throws an Error for anything that is not a version 1 frame of the right length.
 */
export function parseFrame(buffer) {
  const view = new DataView(buffer);
  if (buffer.byteLength < HEADER_BYTES) throw new Error("frame shorter than its header");
  for (let i = 0; i < 4; i++) {
    if (view.getUint8(i) !== MAGIC[i]) throw new Error("not an lpm-guard video frame");
  }
  const version = view.getUint8(4);
  const size = view.getUint8(5);
  if (version !== VERSION || size !== HEADER_BYTES) {
    throw new Error(`unsupported frame version ${version} (header ${size} bytes)`);
  }
  const index = view.getUint32(6, true);
  const pts = Number(view.getBigUint64(10, true)) / 1e6;
  const jpegLength = view.getUint32(18, true);
  const audioLength = view.getUint32(22, true);
  if (buffer.byteLength !== size + jpegLength + audioLength || audioLength % 2) {
    throw new Error("frame length does not match its header");
  }
  const jpeg = new Uint8Array(buffer, size, jpegLength);
  // Copied: the audio may start at an odd offset, and an Int16Array view needs an even one.
  const audio = new Int16Array(buffer.slice(size + jpegLength));
  return { index, pts, jpeg, audio };
}

/** Index of the first sample louder than `threshold` (of 32768), or -1. */
export function firstLoud(samples, threshold = 1000) {
  for (let i = 0; i < samples.length; i++) {
    if (samples[i] > threshold || samples[i] < -threshold) return i;
  }
  return -1;
}

/**
 * Plays frames at their presentation times on the AudioContext's clock.
 *
 * Jitter buffer: frame `pts` plays at `anchor + pts` (context seconds). The first frame sets
 * the anchor `jitter` seconds ahead; a frame that arrives too late to play on time moves the
 * anchor later (the buffer grows, by at most `maxJitter` at once), so sound never plays out of
 * order and a slow network costs delay, not gaps. When a second of frames has all arrived with
 * more time to spare than `jitter`, the anchor moves back (during silence, so nothing audible
 * jumps): the delay returns to the target once the network recovers.
 *
 * Sync: each frame's audio is an AudioBuffer at 24 kHz started at the frame's time; its picture
 * is drawn by the animation loop when the sound the context is playing *out of the speaker* (its
 * clock less the output latency) reaches that time.
 */
const MIN_LEAD = 0.01; // seconds: a frame must be scheduled at least this far ahead
const SHRINK_EVERY = 25; // frames

export class FramePlayer {
  constructor(canvas, audio, { jitter = 0.12, maxJitter = 0.5, onDraw = () => {} } = {}) {
    this.canvas = canvas;
    this.context2d = canvas.getContext("2d");
    this.audio = audio;
    this.jitter = jitter;
    this.maxJitter = maxJitter;
    this.onDraw = onDraw;
    this.anchor = null;
    this.queue = []; // decoded frames waiting for their time: { at, bitmap, index, frame }
    this.timed = []; // callbacks waiting for a presentation time: { pts, run }
    this.sources = new Set();
    this.drawn = [];
    this.running = true;
    this.late = 0;
    this.soundFrames = 0; // frames whose sound was scheduled
    this.lateness = []; // for the last drawn frames: how long after its sound the picture came
    this.spare = Infinity; // the least time to spare of the frames since the last shrink check
    this.counted = 0;
    this.queueDelay = jitter; // seconds between receiving the last frame and its time to show
    this.loop = this.loop.bind(this);
    requestAnimationFrame(this.loop);
  }

  /** The clock frames are scheduled on. */
  now() {
    return this.audio.currentTime;
  }

  /** The clock time of the sound leaving the speaker now: when a frame's picture is due. */
  heard() {
    return this.audio.currentTime - (this.audio.outputLatency || this.audio.baseLatency || 0);
  }

  /** Schedule one parsed frame. */
  async push(frame) {
    if (!this.running) return;
    const now = this.now();
    const silent = firstLoud(frame.audio, 0) < 0;
    if (this.anchor === null) this.anchor = now + this.jitter - frame.pts;
    const spare = this.anchor + frame.pts - now;
    if (spare < MIN_LEAD) {
      // (1) late: move the whole timeline later.
      this.late += 1;
      this.anchor += Math.min(MIN_LEAD - spare + 0.02, this.maxJitter);
    } else {
      // (2) early for a whole second: move it back towards the target, during silence.
      this.spare = Math.min(this.spare, spare);
      this.counted += 1;
      if (this.counted >= SHRINK_EVERY) {
        const excess = this.spare - this.jitter;
        // At most 30 ms at once: less than a frame (30 fps at most), so nothing reorders.
        if (excess > 0.03 && silent) this.anchor -= Math.min(excess, 0.03);
        this.spare = Infinity;
        this.counted = 0;
      }
    }
    const at = this.anchor + frame.pts;
    this.queueDelay = at - now;
    if (!silent) this.playAudio(frame.audio, at);
    let bitmap;
    try {
      bitmap = await createImageBitmap(new Blob([frame.jpeg], { type: "image/jpeg" }));
    } catch {
      return; // an undecodable picture is skipped; its sound still plays
    }
    if (!this.running) {
      bitmap.close();
      return;
    }
    this.queue.push({ at, bitmap, index: frame.index, frame });
    this.queue.sort((a, b) => a.at - b.at);
  }

  playAudio(samples, at) {
    const buffer = this.audio.createBuffer(1, samples.length, AUDIO_RATE);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 32768;
    const source = this.audio.createBufferSource();
    source.buffer = buffer;
    source.connect(this.audio.destination);
    source.start(Math.max(at, this.now()));
    this.soundFrames += 1;
    this.sources.add(source);
    source.onended = () => this.sources.delete(source);
  }

  /** Run `callback` when the frame at `pts` is shown (events that belong to a frame). */
  atPts(pts, callback) {
    this.timed.push({ pts, run: callback });
  }

  loop() {
    if (!this.running) return;
    const now = this.heard();
    // The newest frame whose time has come; older ones are skipped (and freed).
    let show = null;
    while (this.queue.length && this.queue[0].at <= now) {
      if (show) show.bitmap.close();
      show = this.queue.shift();
    }
    if (show) {
      this.context2d.drawImage(show.bitmap, 0, 0, this.canvas.width, this.canvas.height);
      show.bitmap.close();
      const drawnAt = performance.now();
      this.drawn.push(drawnAt);
      while (this.drawn.length && this.drawn[0] < drawnAt - 1000) this.drawn.shift();
      this.lateness.push(now - show.at);
      if (this.lateness.length > 50) this.lateness.shift();
      this.onDraw(show.frame, drawnAt);
    }
    if (this.anchor !== null) {
      const due = this.timed.filter((item) => this.anchor + item.pts <= now);
      this.timed = this.timed.filter((item) => this.anchor + item.pts > now);
      for (const item of due) item.run();
    }
    requestAnimationFrame(this.loop);
  }

  /** Median seconds between a frame's sound starting and its picture showing (last 50). */
  sync() {
    if (!this.lateness.length) return null;
    const sorted = [...this.lateness].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }

  /** Frames drawn in the last second. */
  fps() {
    const since = performance.now() - 1000;
    return this.drawn.filter((t) => t >= since).length;
  }

  stop() {
    this.running = false;
    for (const item of this.queue) item.bitmap.close();
    this.queue = [];
    this.timed = [];
    for (const source of this.sources) {
      try {
        source.stop();
      } catch {
        // already ended
      }
    }
    this.sources.clear();
  }
}
