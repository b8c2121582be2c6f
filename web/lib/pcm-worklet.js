// An AudioWorklet processor: the microphone, at the AudioContext's rate, to 24 kHz mono PCM16
// in chunks (the live protocol's input_audio_buffer.append). Loaded with
// audioWorklet.addModule("/lib/pcm-worklet.js"); it posts one Int16Array per chunk.
//
// Hand-written because no library does this in a browser without a build step: a one-pole
// low-pass at 10 kHz (below the 12 kHz Nyquist of 24 kHz) against aliasing, then linear
// interpolation at the ratio of the two rates. Good enough for what it feeds: the character
// hears the user's voice to nod and look at them; nobody listens to this copy.

const TARGET_RATE = 24000;
const CUTOFF_HZ = 10000;

class Pcm16Resampler extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const settings = (options && options.processorOptions) || {};
    this.chunk = settings.chunkSamples || 2400; // 100 ms at 24 kHz
    this.ratio = sampleRate / TARGET_RATE; // input samples per output sample
    // Below 24 kHz input there is nothing to remove: the filter passes all.
    this.alpha = this.ratio > 1 ? 1 - Math.exp((-2 * Math.PI * CUTOFF_HZ) / sampleRate) : 1;
    this.low = 0; // the filter's state
    this.previous = 0; // the last filtered sample of the previous block (position -1)
    this.position = 0; // where the next output sample falls, in input samples of this block
    this.out = new Int16Array(this.chunk);
    this.fill = 0;
    this.port.onmessage = (event) => {
      if (event.data === "flush") this.flush();
    };
  }

  flush() {
    if (this.fill === 0) return;
    const part = this.out.slice(0, this.fill);
    this.port.postMessage(part, [part.buffer]);
    this.fill = 0;
  }

  emit(value) {
    const clipped = Math.max(-1, Math.min(1, value));
    this.out[this.fill++] = Math.round(clipped * 32767);
    if (this.fill === this.chunk) {
      this.port.postMessage(this.out, [this.out.buffer]);
      this.out = new Int16Array(this.chunk);
      this.fill = 0;
    }
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true; // no microphone connected (yet)
    const length = input[0].length;
    // (1) mono: the mean of the channels, low-passed.
    const filtered = new Float32Array(length);
    for (let i = 0; i < length; i++) {
      let sum = 0;
      for (let c = 0; c < input.length; c++) sum += input[c][i];
      this.low += this.alpha * (sum / input.length - this.low);
      filtered[i] = this.low;
    }
    // (2) linear interpolation between neighbours; position -1 is the previous block's last.
    let t = this.position;
    while (t < length - 1) {
      const i = Math.floor(t);
      const a = i < 0 ? this.previous : filtered[i];
      const b = filtered[i + 1];
      this.emit(a + (b - a) * (t - i));
      t += this.ratio;
    }
    this.position = t - length;
    this.previous = filtered[length - 1];
    return true;
  }
}

registerProcessor("pcm16-24k", Pcm16Resampler);
