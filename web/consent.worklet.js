// The consent page's recorder, an AudioWorklet processor: it hands the microphone's samples
// (mono, the context's sample rate, -1..1) to the page in blocks, with each block's loudness
// for the level meter. The page turns them into a WAV file (16-bit PCM), which the server
// reads like any other recording.

const BLOCK = 4096;

class ConsentRecorder extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Float32Array(BLOCK);
    this.filled = 0;
    this.recording = true;
    this.port.onmessage = (event) => {
      if (event.data === "stop") {
        this.flush();
        this.recording = false;
        this.port.postMessage({ done: true });
      }
    };
  }

  flush() {
    if (this.filled === 0) return;
    const samples = this.block.slice(0, this.filled);
    let sum = 0;
    for (const value of samples) sum += value * value;
    this.port.postMessage({ samples, rms: Math.sqrt(sum / samples.length) }, [samples.buffer]);
    this.filled = 0;
  }

  process(inputs) {
    if (!this.recording) return false;
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const frames = channels[0].length;
    for (let i = 0; i < frames; i += 1) {
      // Mono: the mean of the channels (a phone's microphone is mono already).
      let value = 0;
      for (const channel of channels) value += channel[i];
      this.block[this.filled] = value / channels.length;
      this.filled += 1;
      if (this.filled === BLOCK) this.flush();
    }
    return true;
  }
}

registerProcessor("consent-recorder", ConsentRecorder);
