// Checks a ledger state proof in the browser (a port of ledger.state.verify_proof).
// Keys are spread over 2**16 buckets by the first two bytes of sha256(key); a bucket's hash
// commits to its sorted (key, sha256(value)) entries and a 16-level binary Merkle tree over
// the buckets gives the app hash, which the validators sign in the next block's header.
// Exposed as window.BaasProof so that explorer.js and tests can call it.
(function () {
  "use strict";

  var DEPTH = 16;

  function hexToBytes(hex) {
    if (typeof hex !== "string" || hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) {
      throw new Error("not hex");
    }
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) {
      out[i] = parseInt(hex.substr(i * 2, 2), 16);
    }
    return out;
  }

  function bytesToHex(bytes) {
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function concat(parts) {
    var size = parts.reduce(function (n, p) { return n + p.length; }, 0);
    var out = new Uint8Array(size);
    var at = 0;
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }

  async function sha256(parts) {
    var digest = await crypto.subtle.digest("SHA-256", concat(parts));
    return new Uint8Array(digest);
  }

  // Byte-wise order, a shorter prefix first: how Python sorts bytes.
  function compare(a, b) {
    var n = Math.min(a.length, b.length);
    for (var i = 0; i < n; i++) {
      if (a[i] !== b[i]) { return a[i] - b[i]; }
    }
    return a.length - b.length;
  }

  function equal(a, b) { return a.length === b.length && compare(a, b) === 0; }

  async function bucketOf(key) {
    var h = await sha256([key]);
    return ((h[0] << 24) >>> 0 | h[1] << 16 | h[2] << 8 | h[3]) >>> (32 - DEPTH);
  }

  async function entryHash(key, valueHash) {
    var len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, key.length, false);
    return sha256([Uint8Array.of(0), len, key, valueHash]);
  }

  async function bucketHash(entries) {
    var sorted = entries.slice().sort(function (x, y) {
      return compare(x[0], y[0]) || compare(x[1], y[1]);
    });
    var hashes = [Uint8Array.of(1)];
    for (var i = 0; i < sorted.length; i++) {
      hashes.push(await entryHash(sorted[i][0], sorted[i][1]));
    }
    return sha256(hashes);
  }

  function nodeHash(left, right) { return sha256([Uint8Array.of(2), left, right]); }

  // key, value (null = proven absent) and appHash are Uint8Arrays; proof is
  // {bucket, entries: [[key hex, value hash hex]], siblings: [hex x 16]}. Resolves to
  // true only when the proof leads from the value to exactly this app hash.
  async function verifyProof(key, value, proof, appHash) {
    if (!proof || !Array.isArray(proof.entries) || !Array.isArray(proof.siblings)) {
      return false;
    }
    if (proof.siblings.length !== DEPTH || proof.bucket !== await bucketOf(key)) {
      return false;
    }
    var entries = proof.entries.map(function (e) {
      return [hexToBytes(e[0]), hexToBytes(e[1])];
    });
    var found = entries.filter(function (e) { return equal(e[0], key); });
    if (value === null) {
      if (found.length) { return false; }
    } else if (found.length !== 1 || !equal(found[0][1], await sha256([value]))) {
      return false;
    }
    var current = await bucketHash(entries);
    var idx = proof.bucket;
    for (var level = 0; level < DEPTH; level++) {
      var sibling = hexToBytes(proof.siblings[level]);
      current = (idx & 1) ? await nodeHash(sibling, current) : await nodeHash(current, sibling);
      idx >>= 1;
    }
    return equal(current, appHash);
  }

  // The explorer's proof endpoint answer -> verified or not (the value as the node sent it).
  function verifyAnswer(answer) {
    return verifyProof(hexToBytes(answer.key_hex),
                       answer.value_hex === null ? null : hexToBytes(answer.value_hex),
                       answer.proof, hexToBytes(answer.app_hash));
  }

  window.BaasProof = { verifyProof: verifyProof, verifyAnswer: verifyAnswer,
                       hexToBytes: hexToBytes, bytesToHex: bytesToHex };
})();
