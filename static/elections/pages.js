/* The election pages' DOM code (an ES module on voting.js): the voter page and the trustee
 * page. No inline script, no eval (the portal's CSP allows neither).
 *
 * Voter page (elections/public_views.py, /p/<id>/elections/<eid>/): the browser's Ed25519
 * key (WebCrypto, private half not extractable, kept in IndexedDB: the same key as the
 * deployment's public page) is the voter; its hex public key is the voter id. The choices
 * are encrypted here (voting.encryptBallot); the voter may challenge a ballot (Benaloh: the
 * browser reveals what it encrypted, checks it, shows it, and discards that ballot) or cast
 * it: the server prepares the `cast` transaction (/p/<id>/prepare/), this script checks the
 * prepared body is exactly that ballot for this voter, signs it and sends it (submit/).
 *
 * Trustee page (elections/views.py): the key share is made here; the secret goes into a
 * file the trustee saves and is never sent; the public key and its proof are posted. After
 * voting closes the file is loaded again and the partial decryption of the on-chain tally
 * is computed here and posted with its proofs.
 */
import * as V from "./voting.js";

const SIGN_DOMAIN = "ledger/tx/v1\u0000";
const DB_NAME = "baas-public-keys";
const STORE = "keys";
const KEY_ID = "default";

const PAGE = typeof document !== "undefined"; // not in Node (the tests import castBytes)
const $ = (id) => document.getElementById(id);
const texts = PAGE && $("page-texts") ? JSON.parse($("page-texts").textContent) : {};

function interpolate(text, values) {
  return String(text).replace(/%\((\w+)\)s/g, (_m, name) => (name in values ? String(values[name]) : ""));
}

function say(box, text, kind) {
  if (!box) return;
  box.className = (box.classList.contains("outcome") ? "outcome " : "small ") + (kind || "");
  box.textContent = text;
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

function cookie(name) {
  for (const part of (document.cookie || "").split(";")) {
    const p = part.trim();
    if (p.startsWith(name + "=")) return decodeURIComponent(p.slice(name.length + 1));
  }
  return "";
}

// Key order does not matter for equality: both sides are written with sorted keys.
function canonical(value) {
  if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
  if (value && typeof value === "object") {
    return "{" + Object.keys(value).sort().map((k) => JSON.stringify(k) + ":" + canonical(value[k])).join(",") + "}";
  }
  return JSON.stringify(value);
}

// --- the browser key (as static/sectors/public.js keeps it) ---------------------------------
function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function dbRequest(db, mode, action) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = action(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(request.result);
    tx.onerror = () => reject(tx.error);
  });
}

async function loadOrMakeKey() {
  if (!window.crypto || !crypto.subtle || !window.indexedDB) throw new Error("no webcrypto");
  const db = await openDb();
  let stored = await dbRequest(db, "readonly", (s) => s.get(KEY_ID));
  let made = false;
  if (!stored || !stored.privateKey || !stored.publicHex) {
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    stored = { privateKey: pair.privateKey, publicHex: hex(await crypto.subtle.exportKey("raw", pair.publicKey)) };
    await dbRequest(db, "readwrite", (s) => s.put(stored, KEY_ID));
    made = true;
  }
  db.close();
  return { key: stored.privateKey, publicHex: stored.publicHex, made };
}

async function post(url, payload) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": cookie("csrftoken") },
    body: JSON.stringify(payload),
  });
  let data = null;
  try { data = await response.json(); } catch (_e) { data = null; }
  if (!response.ok) {
    const error = data && data.error;
    throw new Error((error && error.message) || texts.failed);
  }
  return data;
}

// --- the cast envelope ---------------------------------------------------------------------
/** The bytes to sign for a prepared `cast` (from /p/<id>/prepare/), or null when the server
 * prepared anything but exactly this ballot (`expected.args`) for this voter
 * (`expected.signer`), chaincode and chain, now: the sign bytes must be the envelope domain
 * and the very body returned, and the body carries no signature yet. */
export function castBytes(prepared, expected) {
  const body = prepared && prepared.body;
  if (!body || typeof body !== "object" || typeof prepared.sign_bytes !== "string") return null;
  const binary = atob(prepared.sign_bytes);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  if (!text.startsWith(SIGN_DOMAIN)) return null;
  const signed = JSON.parse(text.slice(SIGN_DOMAIN.length));
  const ok = canonical(signed) === canonical(body)
    && body.function === "cast"
    && canonical(body.args) === canonical(expected.args)
    && body.signer === expected.signer
    && body.chaincode === expected.chaincode
    && body.chain_id === expected.chainId
    && typeof body.time_ms === "number"
    && Math.abs(body.time_ms - expected.now) < 5 * 60 * 1000
    && !("sig" in body);
  return ok ? bytes : null;
}

// --- the voter page ------------------------------------------------------------------------
// The election hash the ballot is bound to, computed here from the creating transaction's
// hash and the definition (as the contract computes it), never taken from the server alone:
// null when the server's eh is not that hash (or the definition is unreadable).
export function checkedElection(data) {
  let eh;
  try {
    eh = V.electionHash(data.tx_hash, data.definition);
  } catch (e) {
    return null;
  }
  if (typeof data.eh !== "string" || eh !== data.eh) return null;
  return {
    eh,
    questions: data.definition.questions.map((q) => ({
      options: q.options.length, min_choices: q.min_choices, max_choices: q.max_choices,
    })),
  };
}

function voterPage(root) {
  const election = JSON.parse($("ballot-data").textContent);
  const form = $("ballot-form");
  const state = { key: null, voter: "", sealed: null, picks: null };

  // the key card
  const keyText = $("voter-id");
  const keyStatus = $("key-status");
  loadOrMakeKey().then((found) => {
    state.key = found.key;
    state.voter = found.publicHex;
    keyText.textContent = found.publicHex;
    root.dataset.voter = found.publicHex;
    if (found.made) keyStatus.textContent = texts.key_made;
    $("copy-key").disabled = false;
    if (form) $("encrypt").disabled = false;
  }).catch(() => {
    keyText.textContent = "—";
    keyStatus.textContent = texts.no_webcrypto;
    keyStatus.className = "small outcome error";
  });
  $("copy-key").addEventListener("click", () => {
    const done = () => { keyStatus.textContent = texts.copied; };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(state.voter).then(done, () => {});
    }
  });
  if (!form) return; // voting is not open: the page only shows the voter id

  function picked() {
    const choices = election.questions.map((q) => new Array(q.options).fill(0));
    form.querySelectorAll("input[type=checkbox][data-question]").forEach((box) => {
      if (box.checked) choices[Number(box.dataset.question)][Number(box.dataset.option)] = 1;
    });
    return choices;
  }

  function countProblem(choices) {
    for (let qi = 0; qi < election.questions.length; qi++) {
      const q = election.questions[qi];
      const n = choices[qi].reduce((a, b) => a + b, 0);
      if (n < q.min_choices || n > q.max_choices) {
        return interpolate(texts.choose, { n: qi + 1, min: q.min_choices, max: q.max_choices });
      }
    }
    return "";
  }

  function setBallotLocked(locked) {
    form.querySelectorAll("input, button").forEach((el) => { el.disabled = locked; });
    if (!state.key) $("encrypt").disabled = true;
  }

  function discard() {
    state.sealed = null;
    $("sealed-card").hidden = true;
    setBallotLocked(false);
  }

  function optionTitle(qi, oj) {
    const box = form.querySelector(`input[data-question="${qi}"][data-option="${oj}"]`);
    return box ? box.parentNode.querySelector("span").textContent : `${qi}/${oj}`;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const status = $("ballot-status");
    const choices = picked();
    const problem = countProblem(choices);
    if (problem) { say(status, problem, "error"); return; }
    const checked = checkedElection(election);
    if (!checked) { say(status, texts.eh_mismatch, "error"); return; }
    say(status, texts.encrypting, "");
    setBallotLocked(true);
    // let the status paint before the (synchronous) proofs run
    setTimeout(() => {
      try {
        state.sealed = V.encryptBallot(checked.eh, state.voter, election.joint_key,
          checked.questions, choices);
        state.eh = checked.eh;
        state.questions = checked.questions;
        state.picks = choices;
      } catch (e) {
        say(status, interpolate(texts.failed, { error: e.message }), "error");
        setBallotLocked(false);
        return;
      }
      say(status, "", "");
      $("tracker").textContent = state.sealed.tracker;
      $("revealed").textContent = "";
      say($("sealed-status"), "", "");
      $("challenge").disabled = false;
      $("cast").disabled = false;
      $("sealed-card").hidden = false;
      $("sealed-card").scrollIntoView({ block: "nearest" });
    }, 20);
  });

  $("challenge").addEventListener("click", () => {
    const sealed = state.sealed;
    if (!sealed) return;
    const problems = V.checkSpoiled(state.eh, state.voter, election.joint_key, sealed.ballot,
      sealed.reveal, state.questions, sealed.tracker);
    if (canonical(sealed.reveal.choices) !== canonical(state.picks)) {
      problems.push("the revealed choices are not the ones you made");
    }
    const list = $("revealed");
    list.textContent = "";
    sealed.reveal.choices.forEach((row, qi) => {
      const names = [];
      row.forEach((m, oj) => { if (m === 1) names.push(optionTitle(qi, oj)); });
      const legend = form.querySelector(`fieldset[data-question="${qi}"] legend`);
      const li = document.createElement("li");
      li.textContent = interpolate(texts.revealed, {
        question: legend ? legend.firstChild.textContent.trim() : qi + 1,
        choices: names.length ? names.join(", ") : texts.nothing,
      });
      list.appendChild(li);
    });
    if (problems.length) {
      say($("sealed-status"), interpolate(texts.challenge_bad, { problems: problems.join("; ") }), "error");
    } else {
      say($("sealed-status"), texts.challenge_ok, "success");
    }
    // a challenged ballot is never cast: drop it, keep what it showed on screen
    state.sealed = null;
    $("challenge").disabled = true;
    $("cast").disabled = true;
    setBallotLocked(false);
  });

  $("cast").addEventListener("click", async () => {
    const sealed = state.sealed;
    if (!sealed) return;
    const status = $("sealed-status");
    $("cast").disabled = true;
    $("challenge").disabled = true;
    sealed.reveal = null; // the randomness of a cast ballot is forgotten at once
    const args = { id: election.id, ballot: sealed.ballot };
    try {
      say(status, texts.sending, "");
      const prepared = await post(root.dataset.prepareUrl,
        { function: "cast", args, public_key: state.voter });
      let bytes = null;
      try {
        bytes = castBytes(prepared, { args, signer: state.voter, chaincode: root.dataset.chaincode,
                                      chainId: root.dataset.chainId, now: Date.now() });
      } catch (_e) { bytes = null; }
      if (!bytes) { say(status, texts.mismatch, "error"); $("cast").disabled = false; return; }
      const signature = await crypto.subtle.sign({ name: "Ed25519" }, state.key, bytes);
      const result = await post(root.dataset.submitUrl, { body: prepared.body, signature: hex(signature) });
      state.sealed = null;
      $("sealed-card").hidden = true;
      $("ballot-card").hidden = true;
      $("done-tracker").textContent = sealed.tracker;
      $("done-status").textContent = interpolate(texts.cast, { height: result.height });
      $("find-tracker").href = root.dataset.resultsUrl + "?tracker=" + sealed.tracker;
      $("done-card").hidden = false;
    } catch (e) {
      say(status, e && e.message ? e.message : texts.failed, "error");
      $("cast").disabled = false;
    }
  });
  discard();
}

// --- the trustee page ----------------------------------------------------------------------
function trusteePage() {
  const data = JSON.parse($("trustee-data").textContent);
  const make = $("make-key");
  if (make) {
    make.disabled = false; // the script is here: the button works
    make.addEventListener("click", () => {
      const status = $("key-status");
      say(status, texts.generating, "");
      try {
        const key = V.trusteeKeygen(data.eh, data.trustee);
        if (!V.verifyTrusteeKey(data.eh, data.trustee, key.posted)) throw new Error("proof");
        const file = V.trusteeSecretFile(data.eh, data.trustee, key);
        const link = $("key-file");
        if (link.href && link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
        link.href = URL.createObjectURL(new Blob([file], { type: "application/json" }));
        link.download = `trustee-key-${data.election}-${data.trustee}.json`;
        link.hidden = false;
        $("id_public").value = key.posted.public;
        $("id_proof").value = JSON.stringify(key.posted.proof);
        $("post-key").disabled = false;
        make.disabled = true;
        say(status, texts.generated, "success");
      } catch (e) {
        say(status, interpolate(texts.failed, { error: e.message }), "error");
      }
    });
  }
  const fileInput = $("secret-file");
  if (fileInput) {
    fileInput.addEventListener("change", async () => {
      const status = $("decrypt-status");
      $("post-decryption").disabled = true;
      const file = fileInput.files && fileInput.files[0];
      if (!file) return;
      try {
        const text = await file.text();
        const secret = V.readTrusteeSecretFile(text, data.eh, data.trustee, data.public);
        const shares = V.partialDecrypt(data.eh, data.trustee, secret, data.tally, data.board);
        const problem = V.decryptionProblem(data.eh, data.trustee, data.public, data.tally, shares,
          data.board);
        if (problem) throw new Error(problem);
        $("id_shares").value = JSON.stringify(shares);
        $("post-decryption").disabled = false;
        say(status, texts.loaded, "success");
      } catch (e) {
        say(status, interpolate(texts.bad_file, { error: e.message }), "error");
      }
    });
  }
}

if (PAGE && $("vote-page")) voterPage($("vote-page"));
if (PAGE && $("trustee-page")) trusteePage();
