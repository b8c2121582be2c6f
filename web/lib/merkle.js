// Checking an audit entry's inclusion in the log, in the browser, against a signed checkpoint.
//
// Hashing is RFC 9162 (Certificate Transparency 2.0) as the server's audit/ library does it:
// leaf = SHA-256(0x00 ‖ canonical entry), node = SHA-256(0x01 ‖ left ‖ right); the walk from a
// leaf to the root is RFC 9162 section 2.1.3.2, step for step. A checkpoint is a C2SP signed
// note: "origin\nsize\nbase64(root)\ntime …\n" then "\n— name base64(keyhash4 ‖ sig64)\n",
// the key hash being SHA-256(name ‖ "\n" ‖ 0x01 ‖ raw Ed25519 key)[:4]. Written by hand: no
// browser library does either, and both are a few lines over WebCrypto (SHA-256, Ed25519).

const encoder = new TextEncoder();

/** One check that failed: `step` names it (leaf, size, path, root, key, signature, format). */
export class CheckFailed extends Error {
  constructor(step, message) {
    super(message);
    this.step = step;
  }
}

export function fromHex(text) {
  if (typeof text !== "string" || !/^([0-9a-f]{2})*$/i.test(text)) throw new CheckFailed("format", "not hex");
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

export function toHex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromBase64(text) {
  let binary;
  try {
    binary = atob(text);
  } catch {
    throw new CheckFailed("format", "not base64");
  }
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function equal(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

export function leafHash(entry) {
  const bytes = typeof entry === "string" ? encoder.encode(entry) : entry;
  return sha256(concat(Uint8Array.of(0), bytes));
}

export function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

/** RFC 9162 2.1.3.2: the root that `path` leads to from `leaf` at `index` in a tree of `size`. */
export async function rootFromInclusion(leaf, index, size, path) {
  // (1): the index must lie inside the tree.
  if (!(Number.isInteger(index) && Number.isInteger(size) && index >= 0 && index < size)) {
    throw new CheckFailed("path", `index ${index} is outside a tree of size ${size}`);
  }
  // (2): walk from the leaf to the root. Sizes stay below 2^53, so use Math, not bit operators.
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  const odd = (n) => n % 2 === 1;
  const half = (n) => Math.floor(n / 2);
  for (const p of path) {
    if (sn === 0) throw new CheckFailed("path", "the proof is too long for this tree");
    if (odd(fn) || fn === sn) {
      r = await nodeHash(p, r);
      if (!odd(fn)) {
        while (fn !== 0 && !odd(fn)) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // (3): the walk must have reached the top.
  if (sn !== 0) throw new CheckFailed("path", "the proof is too short for this tree");
  return r;
}

/** Parse a signed checkpoint note (does not check its signature). */
export function parseCheckpoint(note) {
  const split = note.indexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new CheckFailed("format", "the checkpoint has no signature block");
  const text = note.slice(0, split);
  const lines = text.split("\n");
  if (lines.length < 4 || !lines[3].startsWith("time ") || !/^(0|[1-9][0-9]*)$/.test(lines[1])) {
    throw new CheckFailed("format", "the checkpoint body is malformed");
  }
  const rootHash = fromBase64(lines[2]);
  if (rootHash.length !== 32) throw new CheckFailed("format", "the checkpoint's root hash is not 32 bytes");
  const signatures = note.slice(split + 2, -1).split("\n").map((line) => {
    const match = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!match) throw new CheckFailed("format", "a signature line is malformed");
    const raw = fromBase64(match[2]);
    if (raw.length !== 68) throw new CheckFailed("format", "a signature is not an Ed25519 note signature");
    return { name: match[1], keyHash: raw.slice(0, 4), signature: raw.slice(4) };
  });
  return {
    origin: lines[0],
    treeSize: Number(lines[1]),
    rootHash,
    time: lines[3].slice(5),
    signed: encoder.encode(`${text}\n`),
    signatures,
  };
}

/** SHA-256(name ‖ "\n" ‖ 0x01 ‖ key)[:4], as C2SP signed notes name an Ed25519 key. */
export async function keyHash(name, rawKey) {
  return (await sha256(concat(encoder.encode(`${name}\n`), Uint8Array.of(1), rawKey))).slice(0, 4);
}

/**
 * Check the note's signature with one of `keys` ([{name, public_key (base64 raw)}]).
 * Returns the key that signed it; throws CheckFailed("key" | "signature").
 */
export async function verifyCheckpointSignature(checkpoint, keys) {
  // (1): a signature line names a published key: same name, and the hash of that key.
  for (const line of checkpoint.signatures) {
    for (const key of keys) {
      if (key.name !== line.name) continue;
      const raw = fromBase64(key.public_key);
      if (raw.length !== 32 || !equal(await keyHash(key.name, raw), line.keyHash)) continue;
      // (2): the Ed25519 signature over the note's text verifies under that key.
      const publicKey = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
      const good = await crypto.subtle.verify({ name: "Ed25519" }, publicKey, line.signature, checkpoint.signed);
      if (!good) throw new CheckFailed("signature", `the checkpoint's signature by ${line.name} does not verify`);
      return { ...key, key_hash: toHex(line.keyHash) };
    }
  }
  throw new CheckFailed("key", "no published key made the checkpoint's signature");
}

/**
 * The whole check: `body` (the entry's canonical JSON as the log stores it), `index`, `proof`
 * (GET /v1/audit/proofs/inclusion at the checkpoint's size), `note` (the signed checkpoint) and
 * `keys` (GET /v1/audit/keys). Resolves to the list of steps passed; throws CheckFailed at the
 * first one that fails.
 */
export async function checkInclusion({ body, index, proof, note, keys }) {
  const steps = [];
  // (1): the entry hashes to the leaf the proof starts from.
  const leaf = await leafHash(body);
  if (proof.index !== index || !equal(leaf, fromHex(proof.leaf_hash))) {
    throw new CheckFailed("leaf", "the entry does not hash to the proof's leaf: it was changed");
  }
  steps.push({ step: "leaf", detail: `entry ${index} hashes to leaf ${toHex(leaf)}` });
  // (2): the checkpoint is well formed and the proof is for the tree it signs.
  const checkpoint = parseCheckpoint(note);
  if (proof.tree_size !== checkpoint.treeSize) {
    throw new CheckFailed("size", `the proof is for ${proof.tree_size} entries, the checkpoint signs ${checkpoint.treeSize}`);
  }
  // (3): the path leads from the leaf to the checkpoint's root.
  const root = await rootFromInclusion(leaf, index, proof.tree_size, proof.path.map(fromHex));
  if (!equal(root, checkpoint.rootHash)) {
    throw new CheckFailed("root", "the proof does not lead to the checkpoint's root hash");
  }
  steps.push({ step: "root", detail: `${proof.path.length} hashes lead to root ${toHex(root)} of ${checkpoint.treeSize} entries` });
  // (4): the checkpoint is signed by a published key.
  const key = await verifyCheckpointSignature(checkpoint, keys);
  steps.push({ step: "signature", detail: `signed by ${key.name} (key ${key.key_hash}) at ${checkpoint.time}` });
  return steps;
}
