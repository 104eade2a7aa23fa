/* The encrypted-ballot protocol of the voting template, in the browser (an ES module).
 *
 * The same rules, byte for byte, as the Python reference (elections/protocol.py, on
 * ledger/ec.py) and the chaincode: exponential ElGamal over secp256k1 under the joint key H
 * of the trustees; a Schnorr proof with each trustee key; per option a proof that the
 * choice encrypts 0 or 1 and per question a proof that the number of choices is within
 * [min_choices, max_choices] (compact CDS disjunctive Chaum-Pedersen); the tracker; the
 * Benaloh reveal of a ballot the voter challenges; the bulletin board's hash chain; partial
 * decryption with a Chaum-Pedersen proof bound to the board and both halves of the tally.
 * Every proof's challenge binds the election hash (which hashes the whole election
 * definition) and the voter or the trustee.
 *
 * Encodings: a point is 33-byte compressed SEC 1 as lower-case hex (66 digits), the
 * identity "00"; a scalar is 64 lower-case hex digits below the group order. A transcript
 * is SHA-256(domain UTF-8 || 0x00 || for each part: 4-byte big-endian length || bytes),
 * where a text part is its UTF-8 (a point's hex is such a text) and an integer part is 32
 * big-endian bytes; a challenge is the digest as a big-endian integer mod n.
 *
 * Pure functions, no DOM: usable in pages and under Node 18+ (randomness from
 * globalThis.crypto.getRandomValues). Secrets (a trustee's key, a ballot's randomness)
 * are returned to the caller and never sent anywhere by this module.
 * Not constant time: JavaScript BigInt arithmetic and the CDS prover's branch on the
 * chosen value can leak timing to code running on the same device.
 */
import { secp256k1, sha256 } from "../vendor/noble/secp256k1.js";

const Point = secp256k1.Point;
export const ORDER = Point.Fn.ORDER;
export const FIELD = Point.Fp.ORDER;
const G = Point.BASE;
const ZERO = Point.ZERO;
export const IDENTITY = "00";
export const GENERATOR = G.toHex(true);
const MAX_PART = 1 << 20;

export const DOMAIN = "baas-vote/v1/";
export const ELECTION_DOMAIN = DOMAIN + "election";
export const TRUSTEE_DOMAIN = DOMAIN + "trustee-key";
export const RANGE_DOMAIN = DOMAIN + "range";
export const DECRYPT_DOMAIN = DOMAIN + "decrypt";
export const TRACKER_DOMAIN = DOMAIN + "tracker";
export const BOARD_DOMAIN = DOMAIN + "board";
export const CAST_DOMAIN = DOMAIN + "cast";
export const SECRET_FORMAT = "baas-trustee-secret/1";

/** Input that is not a well-formed protocol object (wrong shape, bad encoding). */
export class VotingError extends Error {
  constructor(message) { super(message); this.name = "VotingError"; }
}

// --- bytes, hex ---------------------------------------------------------------------------
const utf8 = new TextEncoder();
const HEX = /^[0-9a-f]*$/;

function bytesToHex(bytes) {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

function hexToBytes(text) {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function bytesToBigInt(bytes) {
  return bytes.length ? BigInt("0x" + bytesToHex(bytes)) : 0n;
}

function mod(k) {
  const r = k % ORDER;
  return r < 0n ? r + ORDER : r;
}

// --- points and scalars -------------------------------------------------------------------

/** The point written as lower-case hex (66 digits, or "00"); VotingError otherwise. */
export function pointFromHex(text, what = "point") {
  if (typeof text !== "string" || (text.length !== 2 && text.length !== 66)) {
    throw new VotingError(`${what}: a point is 66 hex digits, or 00 for the identity`);
  }
  if (!HEX.test(text)) throw new VotingError(`${what}: a point is lower-case hex`);
  if (text === IDENTITY) return ZERO;
  if (text.length !== 66 || (text.slice(0, 2) !== "02" && text.slice(0, 2) !== "03")) {
    throw new VotingError(`${what}: a point is 33 bytes starting with 02 or 03, or the byte 00`);
  }
  if (BigInt("0x" + text.slice(2)) >= FIELD) {
    throw new VotingError(`${what}: a point's x must be below the field prime`);
  }
  try {
    return Point.fromHex(text);
  } catch (_err) {
    throw new VotingError(`${what}: not a point of secp256k1`);
  }
}

/** The hex of a point: 66 digits, or "00" for the identity. */
export function pointHex(p) {
  return p.is0() ? IDENTITY : p.toHex(true);
}

/** The scalar written as 64 lower-case hex digits below the order (a BigInt). */
export function scalarFromHex(text, what = "scalar") {
  if (typeof text !== "string" || text.length !== 64 || !HEX.test(text)) {
    throw new VotingError(`${what}: a scalar is 64 lower-case hex digits`);
  }
  const k = BigInt("0x" + text);
  if (k >= ORDER) throw new VotingError(`${what}: a scalar must be below the group order`);
  return k;
}

export function scalarHex(k) {
  return mod(BigInt(k)).toString(16).padStart(64, "0");
}

/** A uniformly random non-zero scalar: 64 bytes from getRandomValues reduced mod n. */
export function randomScalar() {
  const bytes = new Uint8Array(64);
  for (;;) {
    globalThis.crypto.getRandomValues(bytes);
    const k = bytesToBigInt(bytes) % ORDER;
    if (k !== 0n) return k;
  }
}

// k·P for a secret k (noble's constant-time, blinded path) or a public one.
function mulSecret(k, p) {
  k = mod(k);
  return k === 0n || p.is0() ? ZERO : p.multiply(k);
}

function mulPublic(k, p) {
  k = mod(k);
  return k === 0n || p.is0() ? ZERO : p.multiplyUnsafe(k);
}

// s·P − c·Q (public scalars: verification and the simulated steps of a proof).
function sMinusC(s, p, c, q) {
  return mulPublic(s, p).add(mulPublic(ORDER - mod(c), q));
}

// m·G for a small non-negative integer m (a value in a range, a count).
function small(m) {
  return mulPublic(BigInt(m), G);
}

// --- transcripts --------------------------------------------------------------------------

function part(value) {
  if (typeof value === "string") return utf8.encode(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new VotingError("a transcript number is an integer");
    value = BigInt(value);
  }
  if (typeof value === "bigint") {
    if (value < 0n || value >= 1n << 256n) {
      throw new VotingError("a transcript integer is in [0, 2**256)");
    }
    return hexToBytes(value.toString(16).padStart(64, "0"));
  }
  if (value instanceof Point) return utf8.encode(pointHex(value));
  if (value instanceof Uint8Array) return value;
  throw new VotingError("a transcript part is a point, an integer, bytes or text");
}

/** SHA-256 over the domain, a zero byte and every part length-prefixed (Uint8Array). */
export function transcript(domain, ...parts) {
  if (typeof domain !== "string" || domain.includes("\u0000")) {
    throw new VotingError("a domain is text without a zero character");
  }
  const chunks = [utf8.encode(domain), new Uint8Array([0])];
  for (const value of parts) {
    const raw = part(value);
    if (raw.length > MAX_PART) throw new VotingError("a transcript part is at most 1 MiB");
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, raw.length, false);
    chunks.push(len, raw);
  }
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const data = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) { data.set(c, at); at += c.length; }
  return sha256(data);
}

export function transcriptHex(domain, ...parts) {
  return bytesToHex(transcript(domain, ...parts));
}

/** The Fiat-Shamir challenge: the transcript as a big-endian integer mod n (a BigInt). */
export function challenge(domain, ...parts) {
  return bytesToBigInt(transcript(domain, ...parts)) % ORDER;
}

// --- names --------------------------------------------------------------------------------

/** The parts of the election hash, in order: the creating transaction, the id, the title,
 * opens_at, closes_at, the number of trustees and each trustee, the number of questions,
 * then per question its id, title, min_choices, max_choices, number of options and per
 * option its id and title. Text as text, counts and times as integer parts. */
export function electionParts(txHash, election) {
  const text = (v) => {
    if (typeof v !== "string") throw new VotingError("the election's ids and titles are text");
    return v;
  };
  const int = (v) => {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new VotingError("the election's counts and times are integers");
    }
    return BigInt(v);
  };
  const trustees = field(election, "trustees"), questions = field(election, "questions");
  if (!Array.isArray(trustees) || !Array.isArray(questions)) {
    throw new VotingError("an election has lists of trustees and questions");
  }
  const parts = [text(txHash), text(field(election, "id")), text(field(election, "title")),
                 int(field(election, "opens_at")), int(field(election, "closes_at")),
                 BigInt(trustees.length), ...trustees.map(text), BigInt(questions.length)];
  for (const q of questions) {
    const options = field(q, "options");
    if (!Array.isArray(options)) throw new VotingError("a question has a list of options");
    parts.push(text(field(q, "id")), text(field(q, "title")), int(field(q, "min_choices")),
               int(field(q, "max_choices")), BigInt(options.length));
    for (const o of options) parts.push(text(field(o, "id")), text(field(o, "title")));
  }
  return parts;
}

/** The hash every proof of an election binds (hex): its creating transaction and its whole
 * definition (electionParts). */
export function electionHash(txHash, election) {
  return transcriptHex(ELECTION_DOMAIN, ...electionParts(txHash, election));
}

/** The bulletin board's hash before any ballot (hex). */
export function boardStart(eh) { return transcriptHex(BOARD_DOMAIN, eh); }

/** The board's hash after a ballot with `tracker` is cast (hex). */
export function boardNext(board, tracker) { return transcriptHex(BOARD_DOMAIN, board, tracker); }

/** The board's hash after the ballots with `trackers`, in the order cast. */
export function boardHash(eh, trackers) {
  return trackers.reduce((board, t) => boardNext(board, t), boardStart(eh));
}

export function optionLabel(qi, oj) { return `q${qi}/o${oj}`; }
export function sumLabel(qi) { return `q${qi}/sum`; }

/** What a DID voter signs to cast a ballot. */
export function castMessage(eh, tracker) { return `${CAST_DOMAIN}\n${eh}\n${tracker}`; }

function field(obj, name) {
  if (!obj || typeof obj !== "object" || Array.isArray(obj) || !(name in obj)) {
    throw new VotingError(`missing '${name}'`);
  }
  return obj[name];
}

function pair(value, what) {
  if (!Array.isArray(value) || value.length !== 2) {
    throw new VotingError(`${what}: a proof step is [challenge, response]`);
  }
  return [scalarFromHex(value[0], what), scalarFromHex(value[1], what)];
}

// --- trustee keys -------------------------------------------------------------------------

/** A trustee's key share with its proof of knowledge. `secret` (hex) stays with the
 * trustee (see trusteeSecretFile); `posted` ({public, proof}) is what goes on chain. */
export function trusteeKeygen(eh, trustee, secret) {
  const x = secret === undefined ? randomScalar() : scalarFromHex(secret, "secret");
  if (x === 0n) throw new VotingError("secret: zero is not a key");
  const X = mulSecret(x, G);
  const w = randomScalar();
  const c = challenge(TRUSTEE_DOMAIN, eh, trustee, X, mulSecret(w, G));
  const s = mod(w + c * x);
  const posted = { public: pointHex(X), proof: [scalarHex(c), scalarHex(s)] };
  return { secret: scalarHex(x), public: posted.public, posted };
}

export function verifyTrusteeKey(eh, trustee, posted) {
  let X, c, s;
  try {
    X = pointFromHex(field(posted, "public"), "public");
    [c, s] = pair(field(posted, "proof"), "proof");
  } catch (err) {
    if (err instanceof VotingError) return false;
    throw err;
  }
  if (X.is0()) return false;
  return c === challenge(TRUSTEE_DOMAIN, eh, trustee, X, sMinusC(s, G, c, X));
}

/** The joint key (hex): the sum of the trustees' public keys. */
export function jointKey(publics) {
  return pointHex(publics.reduce((acc, h) => acc.add(pointFromHex(h, "public")), ZERO));
}

/** The text a trustee saves as a file: the secret with what it belongs to. */
export function trusteeSecretFile(eh, trustee, key) {
  return JSON.stringify({ format: SECRET_FORMAT, election: eh, trustee,
                          public: key.public, secret: key.secret }, null, 1) + "\n";
}

/** The secret (hex) from a saved file, checked against the election, the trustee and
 * (when given) the public key posted on chain. */
export function readTrusteeSecretFile(text, eh, trustee, postedPublic) {
  let data;
  try { data = JSON.parse(text); } catch (_err) { throw new VotingError("not a key file"); }
  if (!data || data.format !== SECRET_FORMAT) throw new VotingError("not a key file");
  if (data.election !== eh) throw new VotingError("the key file is for another election");
  if (data.trustee !== trustee) throw new VotingError("the key file is another trustee's");
  const x = scalarFromHex(data.secret, "secret");
  const X = pointHex(mulSecret(x, G));
  if (X !== data.public || (postedPublic !== undefined && X !== postedPublic)) {
    throw new VotingError("the key file does not hold the secret of the posted key");
  }
  return data.secret;
}

// --- encryption and range proofs ----------------------------------------------------------

// The joint key is multiplied a dozen times per ballot, half of them by secrets (noble's
// blinded constant-time path: ~3 ms each without a table). A table of its multiples
// (~20 ms once) brings each to ~0.5 ms; the last key's table is kept for the next ballot.
let lastJoint = { hex: null, point: null };
function jointPoint(h) {
  if (lastJoint.hex !== h) {
    const H = pointFromHex(h, "joint key");
    if (!H.is0()) H.precompute(6, false);
    lastJoint = { hex: h, point: H };
  }
  return lastJoint.point;
}

function encryptPoints(H, m, r) {
  return [mulSecret(r, G), small(m).add(mulSecret(r, H))];
}

/** The encryption {a, b} of the small integer m with randomness r (BigInt or hex). */
export function encrypt(h, m, r) {
  const rk = typeof r === "string" ? scalarFromHex(r, "randomness") : BigInt(r);
  const [A, B] = encryptPoints(jointPoint(h), m, rk);
  return { a: pointHex(A), b: pointHex(B) };
}

function rangeCommitments(H, A, B, k, c, s) {
  return [sMinusC(s, G, c, A), sMinusC(s, H, c, B.subtract(small(k)))];
}

function rangeChallenge(eh, voter, label, H, A, B, lo, hi, commitments) {
  const parts = [eh, voter, label, H, A, B, BigInt(lo), BigInt(hi)];
  for (const [a, b] of commitments) parts.push(a, b);
  return challenge(RANGE_DOMAIN, ...parts);
}

function checkRange(lo, hi) {
  if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo < 0 || lo > hi) {
    throw new VotingError(`a range is 0 <= lo <= hi, not [${lo}, ${hi}]`);
  }
}

function proveRangePoints(eh, voter, label, H, A, B, m, r, lo, hi) {
  checkRange(lo, hi);
  if (!(m >= lo && m <= hi)) throw new VotingError(`${label}: ${m} is outside [${lo}, ${hi}]`);
  const steps = new Map();
  const commitments = [];
  const w = randomScalar();
  for (let k = lo; k <= hi; k++) {
    if (k === m) {
      commitments.push([mulSecret(w, G), mulSecret(w, H)]);
    } else {
      const ck = randomScalar(), sk = randomScalar();
      steps.set(k, [ck, sk]);
      commitments.push(rangeCommitments(H, A, B, k, ck, sk));
    }
  }
  const c = rangeChallenge(eh, voter, label, H, A, B, lo, hi, commitments);
  let cm = c;
  for (const [ck] of steps.values()) cm -= ck;
  cm = mod(cm);
  steps.set(m, [cm, mod(w + cm * r)]);
  const proof = [];
  for (let k = lo; k <= hi; k++) proof.push(steps.get(k).map(scalarHex));
  return proof;
}

function verifyRangePoints(eh, voter, label, H, A, B, lo, hi, proof) {
  if (!Array.isArray(proof) || proof.length !== hi - lo + 1) return false;
  let steps;
  try {
    steps = proof.map((p) => pair(p, label));
  } catch (err) {
    if (err instanceof VotingError) return false;
    throw err;
  }
  const commitments = steps.map(([c, s], i) => rangeCommitments(H, A, B, lo + i, c, s));
  const total = steps.reduce((acc, [c]) => acc + c, 0n) % ORDER;
  return total === rangeChallenge(eh, voter, label, H, A, B, lo, hi, commitments);
}

/** The compact CDS proof that ct = encrypt(h, m, r) holds a value in [lo, hi]. */
export function proveRange(eh, voter, label, h, ct, m, r, lo, hi) {
  const rk = typeof r === "string" ? scalarFromHex(r, "randomness") : BigInt(r);
  return proveRangePoints(eh, voter, label, jointPoint(h),
                          pointFromHex(ct.a, label + ".a"), pointFromHex(ct.b, label + ".b"),
                          m, rk, lo, hi);
}

export function verifyRange(eh, voter, label, h, ct, lo, hi, proof) {
  checkRange(lo, hi);
  let A, B;
  try {
    A = pointFromHex(field(ct, "a"));
    B = pointFromHex(field(ct, "b"));
  } catch (err) {
    if (err instanceof VotingError) return false;
    throw err;
  }
  return verifyRangePoints(eh, voter, label, jointPoint(h), A, B, lo, hi, proof);
}

// --- ballots ------------------------------------------------------------------------------

/** The shape of an election's questions: [{options: count, min_choices, max_choices}]. */
export function questionsOf(election) {
  return election.questions.map(normalQuestion);
}

function normalQuestion(q) {
  const options = Array.isArray(q.options) ? q.options.length : q.options;
  const lo = Number(q.min_choices), hi = Number(q.max_choices);
  if (!Number.isSafeInteger(options) || options < 1) throw new VotingError("a question has options");
  checkRange(lo, hi);
  if (hi > options) throw new VotingError("max_choices is above the number of options");
  return { options, min_choices: lo, max_choices: hi };
}

/** Encrypt `choices` (per question, a 0 or 1 per option) for `voter` under the joint key
 * `h`, with every proof. Returns {ballot, tracker, reveal}: `ballot` is the tx argument,
 * `reveal` ({choices, randomness}) opens it for a Benaloh challenge and must be discarded
 * (never sent) for a ballot that is cast. Refused under the identity as joint key (trustee
 * keys that cancel out): B would be the vote itself. */
export function encryptBallot(eh, voter, h, questions, choices) {
  const H = jointPoint(h);
  if (H.is0()) throw new VotingError("the joint key is the identity: a ballot would not be secret");
  questions = questions.map(normalQuestion);
  if (!Array.isArray(choices) || choices.length !== questions.length) {
    throw new VotingError("one list of choices per question");
  }
  const answers = [], randomness = [];
  questions.forEach((q, qi) => {
    const picks = choices[qi];
    if (!Array.isArray(picks) || picks.length !== q.options || picks.some((m) => m !== 0 && m !== 1)) {
      throw new VotingError(`question ${qi}: one 0 or 1 per option`);
    }
    const count = picks.reduce((n, m) => n + m, 0);
    if (count < q.min_choices || count > q.max_choices) {
      throw new VotingError(`question ${qi}: choose between ${q.min_choices} and ${q.max_choices}`);
    }
    const rs = picks.map(() => randomScalar());
    let sumA = ZERO, sumB = ZERO;
    const entries = picks.map((m, oj) => {
      const [A, B] = encryptPoints(H, m, rs[oj]);
      sumA = sumA.add(A); sumB = sumB.add(B);
      const proof = proveRangePoints(eh, voter, optionLabel(qi, oj), H, A, B, m, rs[oj], 0, 1);
      return { a: pointHex(A), b: pointHex(B), proof };
    });
    const rSum = mod(rs.reduce((acc, r) => acc + r, 0n));
    const proof = proveRangePoints(eh, voter, sumLabel(qi), H, sumA, sumB, count, rSum,
                                   q.min_choices, q.max_choices);
    answers.push({ choices: entries, proof });
    randomness.push(rs.map(scalarHex));
  });
  const ballot = { answers };
  return {
    ballot,
    tracker: tracker(eh, voter, ballot),
    reveal: { choices: choices.map((p) => p.slice()), randomness },
  };
}

/** The ballot's ciphertexts as points, after a shape check (VotingError says what). */
function ciphertexts(ballot, questions) {
  const answers = field(ballot, "answers");
  if (!Array.isArray(answers) || answers.length !== questions.length) {
    throw new VotingError("one answer per question");
  }
  return answers.map((answer, qi) => {
    const entries = field(answer, "choices");
    if (!Array.isArray(entries) || entries.length !== questions[qi].options) {
      throw new VotingError(`question ${qi}: one choice per option`);
    }
    return entries.map((e, oj) => {
      const label = optionLabel(qi, oj);
      return [pointFromHex(field(e, "a"), label + ".a"), pointFromHex(field(e, "b"), label + ".b")];
    });
  });
}

/** The ballot tracker (64 hex): the election, the voter and every ciphertext in order. */
export function tracker(eh, voter, ballot) {
  const parts = [eh, voter];
  for (const answer of field(ballot, "answers")) {
    for (const e of field(answer, "choices")) {
      parts.push(pointFromHex(field(e, "a")), pointFromHex(field(e, "b")));
    }
  }
  return transcriptHex(TRACKER_DOMAIN, ...parts);
}

/** null for a valid ballot, else the first problem ("ballot proof invalid for q0/o1"). */
export function ballotProblem(eh, voter, h, questions, ballot) {
  const H = jointPoint(h);
  questions = questions.map(normalQuestion);
  let cts;
  try {
    cts = ciphertexts(ballot, questions);
  } catch (err) {
    if (err instanceof VotingError) return `ballot malformed: ${err.message}`;
    throw err;
  }
  for (let qi = 0; qi < cts.length; qi++) {
    for (let oj = 0; oj < cts[qi].length; oj++) {
      // r = 0: B is the vote in clear; no honest device makes it
      if (cts[qi][oj][0].is0()) return `ballot point invalid for ${optionLabel(qi, oj)}: a is the identity`;
    }
  }
  for (let qi = 0; qi < questions.length; qi++) {
    const answer = ballot.answers[qi];
    let sumA = ZERO, sumB = ZERO;
    for (let oj = 0; oj < cts[qi].length; oj++) {
      const [A, B] = cts[qi][oj];
      sumA = sumA.add(A); sumB = sumB.add(B);
      const label = optionLabel(qi, oj);
      if (!verifyRangePoints(eh, voter, label, H, A, B, 0, 1, answer.choices[oj].proof)) {
        return `ballot proof invalid for ${label}`;
      }
    }
    const q = questions[qi];
    if (!verifyRangePoints(eh, voter, sumLabel(qi), H, sumA, sumB, q.min_choices,
                           q.max_choices, answer.proof)) {
      return `ballot proof invalid for ${sumLabel(qi)}`;
    }
  }
  return null;
}

/** A Benaloh challenge: is `expectedTracker` (the one the device showed; required) the
 * ballot's tracker, and does `reveal` ({choices, randomness}) open `ballot` to the revealed
 * choices? The problems found; empty when the device encrypted what it showed. */
export function checkSpoiled(eh, voter, h, ballot, reveal, questions, expectedTracker) {
  const problems = [];
  try {
    const H = jointPoint(h);
    const cts = ciphertexts(ballot, questions.map(normalQuestion));
    if (tracker(eh, voter, ballot) !== expectedTracker) {
      problems.push("the tracker is not this ballot's");
    }
    const picks = field(reveal, "choices"), rands = field(reveal, "randomness");
    cts.forEach((row, qi) => {
      if (!Array.isArray(picks[qi]) || !Array.isArray(rands[qi])) {
        throw new VotingError(`question ${qi} is not revealed`);
      }
      row.forEach(([A, B], oj) => {
        const m = picks[qi][oj];
        const r = scalarFromHex(rands[qi][oj], optionLabel(qi, oj));
        let opens = m === 0 || m === 1;
        if (opens) {
          const [A2, B2] = encryptPoints(H, m, r);
          opens = A2.equals(A) && B2.equals(B);
        }
        if (!opens) problems.push(`${optionLabel(qi, oj)} does not open to ${JSON.stringify(m)}`);
      });
    });
  } catch (err) {
    if (!(err instanceof VotingError)) throw err;
    problems.push(`reveal malformed: ${err.message}`);
  }
  return problems;
}

// --- tally and decryption -----------------------------------------------------------------

/** Per option, the sum {a, b} of the ballots' ciphertexts. */
export function tally(ballots, questions) {
  questions = questions.map(normalQuestion);
  const sums = questions.map((q) => Array.from({ length: q.options }, () => [ZERO, ZERO]));
  for (const ballot of ballots) {
    ciphertexts(ballot, questions).forEach((row, qi) => row.forEach(([A, B], oj) => {
      const s = sums[qi][oj];
      sums[qi][oj] = [s[0].add(A), s[1].add(B)];
    }));
  }
  return sums.map((row) => row.map(([A, B]) => ({ a: pointHex(A), b: pointHex(B) })));
}

function decryptChallenge(eh, board, trustee, label, X, A, B, D, t1, t2) {
  return challenge(DECRYPT_DOMAIN, eh, board, trustee, label, X, A, B, D, t1, t2);
}

function boardText(board) {
  if (typeof board !== "string" || board.length !== 64 || !HEX.test(board)) {
    throw new VotingError("board: the board's hash is 64 lower-case hex digits");
  }
  return board;
}

/** A trustee's shares for the tallies ([[{a, b}]]): per option {d: x·A, proof: [c, s]}, each
 * proof bound to the board's hash `board` and both halves of its tally. */
export function partialDecrypt(eh, trustee, secret, tallies, board) {
  boardText(board);
  const x = scalarFromHex(secret, "secret");
  const X = mulSecret(x, G);
  return tallies.map((row, qi) => row.map((ct, oj) => {
    const label = optionLabel(qi, oj);
    const A = pointFromHex(field(ct, "a"), label + ".a");
    const B = pointFromHex(field(ct, "b"), label + ".b");
    const D = mulSecret(x, A);
    const w = randomScalar();
    const c = decryptChallenge(eh, board, trustee, label, X, A, B, D, mulSecret(w, G),
                               mulSecret(w, A));
    return { d: pointHex(D), proof: [scalarHex(c), scalarHex(mod(w + c * x))] };
  }));
}

/** null when every share of `shares` is proven for the trustee's public key, the tallies
 * and the board's hash `board`; else the first wrong one ("decryption proof invalid for
 * q0/o1"). */
export function decryptionProblem(eh, trustee, publicKey, tallies, shares, board) {
  const X = pointFromHex(publicKey, "public");
  boardText(board);
  if (!Array.isArray(shares) || shares.length !== tallies.length) {
    return "decryption malformed: one list of shares per question";
  }
  for (let qi = 0; qi < tallies.length; qi++) {
    const row = tallies[qi], got = shares[qi];
    if (!Array.isArray(got) || got.length !== row.length) {
      return `decryption malformed: question ${qi} needs one share per option`;
    }
    for (let oj = 0; oj < row.length; oj++) {
      const label = optionLabel(qi, oj);
      let A, B, D, c, s;
      try {
        A = pointFromHex(field(row[oj], "a"), label);
        B = pointFromHex(field(row[oj], "b"), label);
        D = pointFromHex(field(got[oj], "d"), label);
        [c, s] = pair(field(got[oj], "proof"), label);
      } catch (err) {
        if (err instanceof VotingError) return `decryption malformed: ${err.message}`;
        throw err;
      }
      const t1 = sMinusC(s, G, c, X), t2 = sMinusC(s, A, c, D);
      if (c !== decryptChallenge(eh, board, trustee, label, X, A, B, D, t1, t2)) {
        return `decryption proof invalid for ${label}`;
      }
    }
  }
  return null;
}

/** The counts from the tallies and every trustee's shares: per option the m in
 * [0, limit] with m·G == B − Σ D (VotingError when there is none). */
export function counts(tallies, allShares, limit) {
  const table = new Map();
  let current = ZERO;
  for (let m = 0; m <= limit; m++) {
    table.set(pointHex(current), m);
    current = current.add(G);
  }
  return tallies.map((row, qi) => row.map((ct, oj) => {
    let M = pointFromHex(ct.b);
    for (const shares of allShares) M = M.subtract(pointFromHex(shares[qi][oj].d));
    const m = table.get(pointHex(M));
    if (m === undefined) {
      throw new VotingError(`a count above ${limit}: the shares do not decrypt the tally`);
    }
    return m;
  }));
}
