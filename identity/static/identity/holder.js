/* Holder custody of did:baas DIDs (identity/views.py): the controller key lives in this
 * browser only.
 *
 * A key is an Ed25519 key made by WebCrypto with a non-extractable private half, kept in
 * IndexedDB under its public key (hex). To create, rotate or deactivate, this script asks
 * the portal's prepare/ for the exact bytes to sign, checks them (the method's domain
 * "ledger/did/v1\0" followed by canonical JSON of exactly the operation this page asked
 * for: this op, this DID (for a create, the one derived from the new key), the version the
 * page shows, and for a create or a rotation the whole default state of this browser's new
 * key), signs them, and posts the form with the public key and the signature. Anything else
 * (an added service, key or relationship, another DID) is refused unsigned: the server is
 * not trusted with what the key signs.
 *
 * No inline script, no eval (the portal's CSP allows neither).
 */
(function () {
  "use strict";

  var textsNode = document.getElementById("identity-texts");
  if (!textsNode) return;
  var texts = JSON.parse(textsNode.textContent);
  var DB_NAME = "baas-did-keys";
  var STORE = "keys";
  var status = document.getElementById("holder-status");

  function say(text) { if (status) status.textContent = text; }

  function cookie(name) {
    var parts = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < parts.length; i++) {
      var p = parts[i].trim();
      if (p.indexOf(name + "=") === 0) return decodeURIComponent(p.slice(name.length + 1));
    }
    return "";
  }

  // -- checks (pure; identity/tests/test_holder_js.py runs them in Node) --------------------
  var DOMAIN = "ledger/did/v1\u0000";
  var OP_FIELDS = "chain_id,did,op,prev,state";

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }

  function fromHex(text) {
    var bytes = new Uint8Array(text.length / 2);
    for (var i = 0; i < bytes.length; i++) bytes[i] = parseInt(text.substr(i * 2, 2), 16);
    return bytes;
  }

  function canonical(value) {
    if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
    if (value && typeof value === "object") {
      return "{" + Object.keys(value).sort().map(function (k) {
        return JSON.stringify(k) + ":" + canonical(value[k]);
      }).join(",") + "}";
    }
    return JSON.stringify(value);
  }

  // The method's default state (identity.did.did_baas.default_state): one Ed25519 key.
  function defaultState(publicHex, keyId) {
    return {
      verificationMethod: [{ id: keyId, type: "Ed25519", publicKey: publicHex }],
      authentication: [keyId], assertionMethod: [keyId], capabilityInvocation: [keyId],
    };
  }

  // The self-certifying suffix (ledger.did_core.derive_suffix): lower-case unpadded base32
  // of the first 16 bytes of the key's SHA-256.
  async function suffixOf(publicHex) {
    var digest = new Uint8Array(await crypto.subtle.digest("SHA-256", fromHex(publicHex)));
    var alphabet = "abcdefghijklmnopqrstuvwxyz234567", bits = 0, value = 0, out = "";
    for (var i = 0; i < 16; i++) {
      value = (value << 8) | digest[i];
      bits += 8;
      while (bits >= 5) { out += alphabet[(value >>> (bits - 5)) & 31]; bits -= 5; }
    }
    if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
    return out;
  }

  // The bytes must be the domain plus the canonical JSON of exactly what this page asked
  // for. expect: op ("create", "update", "deactivate"), publicHex (the new key, or null),
  // did (the page's DID; null for a create: derived from the key) and prev (the version
  // the page shows; 0 for a create).
  async function checked(answer, expect) {
    var bytes = fromHex(answer.message_hex);
    var text = new TextDecoder().decode(bytes);
    if (text.indexOf(DOMAIN) !== 0) throw new Error(texts.mismatch);
    var op = JSON.parse(text.slice(DOMAIN.length));
    if (!op || typeof op !== "object" || Array.isArray(op) ||
        canonical(op) !== text.slice(DOMAIN.length) ||
        Object.keys(op).sort().join(",") !== OP_FIELDS) throw new Error(texts.mismatch);
    var did = expect.did;
    if (expect.op === "create") {  // the namespace is the server's; the suffix is the key's
      if (typeof answer.did !== "string" || answer.did.indexOf("did:baas:") !== 0) {
        throw new Error(texts.mismatch);
      }
      did = answer.did.slice(0, answer.did.lastIndexOf(":") + 1) +
        await suffixOf(expect.publicHex);
    }
    var prev = expect.op === "create" ? 0 : expect.prev;
    if (op.op !== expect.op || answer.did !== did || op.did !== did.split(":").pop() ||
        !Number.isInteger(op.prev) || op.prev !== answer.prev ||
        (prev !== null && prev !== undefined && op.prev !== prev)) {
      throw new Error(texts.mismatch);
    }
    var want = expect.publicHex ? defaultState(expect.publicHex, "key-" + (op.prev + 1)) : null;
    if (canonical(op.state) !== canonical(want)) throw new Error(texts.mismatch);
    return bytes;
  }
  // -- end of checks --------------------------------------------------------------------------

  function openDb() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () { request.result.createObjectStore(STORE); };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function dbRequest(mode, action) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var request = action(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(request.result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      });
    });
  }

  async function newKey() {
    if (!window.crypto || !crypto.subtle || !window.indexedDB) throw new Error(texts.no_webcrypto);
    var pair;
    try {
      pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    } catch (e) {
      throw new Error(texts.no_webcrypto);
    }
    var raw = await crypto.subtle.exportKey("raw", pair.publicKey);
    return { privateKey: pair.privateKey, publicHex: hex(raw) };
  }

  function storeKey(key) {
    return dbRequest("readwrite", function (s) { return s.put(key, key.publicHex); });
  }

  function loadKey(publicHex) {
    return dbRequest("readonly", function (s) { return s.get(publicHex); });
  }

  async function prepare(url, fields) {
    var body = new FormData();
    Object.keys(fields).forEach(function (k) { body.append(k, fields[k]); });
    var response = await fetch(url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": cookie("csrftoken") || csrfOf(document) },
    });
    var answer = await response.json();
    if (!response.ok) throw new Error((answer.error && answer.error.message) || response.status);
    return answer;
  }

  function csrfOf(root) {
    var input = root.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  async function sign(key, bytes) {
    return hex(await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, bytes));
  }

  function fail(form, error) {
    form.dataset.busy = "";
    say(texts.failed.replace("%(error)s", error.message || String(error)));
  }

  // --- create ----------------------------------------------------------------------------
  var createForm = document.getElementById("did-create-form");
  if (createForm) {
    createForm.addEventListener("submit", async function (event) {
      var custody = createForm.querySelector("input[name=custody]:checked");
      if (!custody || custody.value !== "holder" || createForm.signature.value) return;
      event.preventDefault();
      if (createForm.dataset.busy) return;
      createForm.dataset.busy = "1";
      say(texts.working);
      try {
        var key = await newKey();
        var answer = await prepare(createForm.dataset.prepareUrl, {
          network: createForm.network.value, subject: createForm.subject.value,
          public_key: key.publicHex,
        });
        var bytes = await checked(answer, { op: "create", publicHex: key.publicHex });
        var signature = await sign(key, bytes);
        await storeKey(key);
        createForm.public_key.value = key.publicHex;
        createForm.signature.value = signature;
        createForm.submit();
      } catch (error) {
        fail(createForm, error);
      }
    });
  }

  // --- rotate, deactivate ------------------------------------------------------------------
  var pageNode = document.getElementById("did-page");
  if (!pageNode || !pageNode.dataset.holder) return;
  var controllers = (pageNode.dataset.controllers || "").split(" ").filter(Boolean);

  async function currentKey() {
    for (var i = 0; i < controllers.length; i++) {
      var key = await loadKey(controllers[i]);
      if (key && key.privateKey) return key;
    }
    throw new Error(texts.no_key);
  }

  ["did-rotate-form", "did-deactivate-form"].forEach(function (id) {
    var form = document.getElementById(id);
    if (!form) return;
    form.addEventListener("submit", async function (event) {
      if (form.signature.value) return;
      var op = form.dataset.op;
      if (op === "deactivate" && form.confirm && !form.confirm.checked) return;  // the server says why
      event.preventDefault();
      if (form.dataset.busy) return;
      form.dataset.busy = "1";
      say(texts.working);
      try {
        var key = await currentKey();
        var fresh = op === "update" ? await newKey() : null;
        var fields = { did: pageNode.dataset.did, op: op };
        if (fresh) fields.public_key = fresh.publicHex;
        var answer = await prepare(pageNode.dataset.prepareUrl, fields);
        var bytes = await checked(answer, {
          op: op, publicHex: fresh ? fresh.publicHex : null, did: pageNode.dataset.didText,
          prev: pageNode.dataset.prev === "" ? null : Number(pageNode.dataset.prev),
        });
        var signature = await sign(key, bytes);
        if (fresh) {
          await storeKey(fresh);
          form.public_key.value = fresh.publicHex;
        }
        form.signature.value = signature;
        form.prev.value = String(answer.prev);
        form.submit();
      } catch (error) {
        fail(form, error);
      }
    });
  });
})();
