/* The public page of a deployment (sectors/public_views.py): a signing key held in this
 * browser, and the public functions as forms.
 *
 * The key is an Ed25519 key made by WebCrypto with a non-extractable private half, kept in
 * IndexedDB (a CryptoKey survives there without ever being exported); its public half is
 * shown as hex so an organisation can enrol it.
 *
 * A write is prepared by the server (POST prepare/ -> {body, sign_bytes}); before signing,
 * this script checks that the bytes it is asked to sign are the envelope domain plus
 * exactly the body returned, and that the body calls the function the user chose, with the
 * arguments the user entered, for this page's chaincode, signed by this browser's key.
 * Anything else is refused unsigned. Then POST submit/ {body, signature}.
 *
 * No inline script, no eval (the portal's CSP allows neither).
 */
(function () {
  "use strict";

  var root = document.getElementById("public-page");
  if (!root) return;
  var texts = JSON.parse(document.getElementById("public-texts").textContent);
  var SIGN_DOMAIN = "ledger/tx/v1\u0000";
  var DB_NAME = "baas-public-keys";
  var STORE = "keys";
  var KEY_ID = "default";
  var state = { key: null, publicHex: "" };

  // --- small helpers ---------------------------------------------------------------------
  function cookie(name) {
    var parts = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < parts.length; i++) {
      var p = parts[i].trim();
      if (p.indexOf(name + "=") === 0) return decodeURIComponent(p.slice(name.length + 1));
    }
    return "";
  }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }

  function fromBase64(text) {
    var binary = atob(text);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  // Key order does not matter for equality: both sides are written with sorted keys.
  function canonical(value) {
    if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
    if (value && typeof value === "object") {
      return "{" + Object.keys(value).sort().map(function (k) {
        return JSON.stringify(k) + ":" + canonical(value[k]);
      }).join(",") + "}";
    }
    return JSON.stringify(value);
  }

  function same(a, b) { return canonical(a) === canonical(b); }

  function interpolate(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_m, name) {
      return name in values ? String(values[name]) : "";
    });
  }

  // --- the key in IndexedDB ----------------------------------------------------------------
  function openDb() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () { request.result.createObjectStore(STORE); };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function dbRequest(db, mode, action) {
    return new Promise(function (resolve, reject) {
      var tx = db.transaction(STORE, mode);
      var request = action(tx.objectStore(STORE));
      tx.oncomplete = function () { resolve(request.result); };
      tx.onerror = function () { reject(tx.error); };
    });
  }

  async function loadOrMakeKey() {
    if (!window.crypto || !crypto.subtle || !window.indexedDB) throw new Error("no webcrypto");
    var db = await openDb();
    var stored = await dbRequest(db, "readonly", function (s) { return s.get(KEY_ID); });
    var made = false;
    if (!stored || !stored.privateKey || !stored.publicHex) {
      // The private half is not extractable; the public half always is.
      var pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
      var raw = await crypto.subtle.exportKey("raw", pair.publicKey);
      stored = { privateKey: pair.privateKey, publicHex: hex(raw) };
      await dbRequest(db, "readwrite", function (s) { return s.put(stored, KEY_ID); });
      made = true;
    }
    db.close();
    return { key: stored.privateKey, publicHex: stored.publicHex, made: made };
  }

  // --- forms -> args -------------------------------------------------------------------------
  function argsOf(form) {
    var args = {};
    var seen = {};
    var inputs = form.querySelectorAll("[data-arg]");
    for (var i = 0; i < inputs.length; i++) {
      var el = inputs[i];
      var name = el.getAttribute("data-arg");
      var kind = el.getAttribute("data-arg-type");
      if (kind === "array" && el.type === "checkbox") {
        if (!seen[name]) { seen[name] = true; args[name] = []; }
        if (el.checked) args[name].push(el.value);
        continue;
      }
      if (kind === "boolean") { args[name] = el.checked; continue; }
      var value = (el.value || "").trim();
      if (value === "") continue;
      if (kind === "integer") {
        args[name] = /^-?\d+$/.test(value) ? parseInt(value, 10) : value;
      } else if (kind === "array") {
        args[name] = value.split(/\r?\n/).map(function (s) { return s.trim(); })
          .filter(function (s) { return s !== ""; });
      } else if (kind === "json") {
        try { args[name] = JSON.parse(value); } catch (e) { args[name] = value; }
      } else {
        args[name] = value;
      }
    }
    Object.keys(seen).forEach(function (name) {
      if (args[name].length === 0) delete args[name];
    });
    return args;
  }

  // --- showing outcomes --------------------------------------------------------------------
  function outcomeOf(form) { return form.parentNode.querySelector(".outcome"); }

  function say(box, text, kind) {
    box.className = "outcome" + (kind ? " " + kind : "");
    box.textContent = text;
  }

  function cellRow(tag, values, headerFirst, labels) {
    var tr = document.createElement("tr");
    values.forEach(function (v, i) {
      var cell = document.createElement(headerFirst && i === 0 ? "th" : tag);
      if (headerFirst && i === 0) cell.scope = "row";
      if (labels && labels[i]) cell.setAttribute("data-label", labels[i]);
      cell.textContent = v;
      tr.appendChild(cell);
    });
    return tr;
  }

  function showTable(box, table) {
    box.className = "outcome";
    box.textContent = "";
    if (!table || table.kind === "empty") {
      var nothing = document.createElement("p");
      nothing.className = "muted";
      nothing.textContent = texts.empty;
      box.appendChild(nothing);
      return;
    }
    if (table.kind === "value") {
      var p = document.createElement("p");
      p.className = "result-value";
      p.textContent = table.value;
      box.appendChild(p);
      return;
    }
    var wrap = document.createElement("div");
    wrap.className = "table-wrap";
    var t = document.createElement("table");
    // Several columns: on a phone each row stacks as "column: value" (portal.css).
    var stacked = table.kind === "rows" && table.columns.length > 1;
    t.className = stacked ? "result stack" : "result";
    if (table.kind === "rows" && table.columns.length && (table.columns.length > 1 || table.columns[0])) {
      var head = document.createElement("thead");
      head.appendChild(cellRow("th", table.columns, false));
      t.appendChild(head);
    }
    var body = document.createElement("tbody");
    table.rows.forEach(function (row) {
      body.appendChild(cellRow("td", row, table.kind === "pairs", stacked ? table.columns : null));
    });
    t.appendChild(body);
    wrap.appendChild(t);
    box.appendChild(wrap);
  }

  function errorText(data) {
    var error = data && data.error;
    if (!error) return texts.failed;
    var problems = error.details && error.details.problems;
    if (Array.isArray(problems) && problems.length) {
      return error.message + " " + problems.map(function (p) {
        return (p.path ? p.path + ": " : "") + p.message;
      }).join("; ");
    }
    return error.message || texts.failed;
  }

  async function post(url, payload) {
    var response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": cookie("csrftoken") },
      body: JSON.stringify(payload),
    });
    var data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) throw new Error(errorText(data));
    return data;
  }

  // --- a write: prepare, check, sign, submit ---------------------------------------------------
  function checkPrepared(prepared, fn, args) {
    var body = prepared && prepared.body;
    if (!body || typeof prepared.sign_bytes !== "string") return null;
    var bytes = fromBase64(prepared.sign_bytes);
    var text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    if (text.indexOf(SIGN_DOMAIN) !== 0) return null;
    var signed = JSON.parse(text.slice(SIGN_DOMAIN.length));
    var ok = same(signed, body)
      && body.function === fn
      && same(body.args, args)
      && body.signer === state.publicHex
      && body.chaincode === root.dataset.chaincode
      && body.chain_id === root.dataset.chainId
      // a signature is good for the ledger's window around its time: only now, not later
      && Math.abs(body.time_ms - Date.now()) < 5 * 60 * 1000
      && !("sig" in body);
    return ok ? bytes : null;
  }

  async function write(form, box) {
    var fn = form.dataset.function;
    var args = argsOf(form);
    say(box, texts.sending, "");
    var prepared = await post(root.dataset.prepareUrl,
      { function: fn, args: args, public_key: state.publicHex });
    var bytes;
    try { bytes = checkPrepared(prepared, fn, args); } catch (e) { bytes = null; }
    if (!bytes) { say(box, texts.mismatch, "error"); return; }
    var signature = await crypto.subtle.sign({ name: "Ed25519" }, state.key, bytes);
    var result = await post(root.dataset.submitUrl,
      { body: prepared.body, signature: hex(signature) });
    if (result.table && result.table.kind !== "empty") showTable(box, result.table);
    else { box.className = "outcome"; box.textContent = ""; }
    var done = document.createElement("p");
    done.className = "success";
    done.textContent = interpolate(texts.committed, { height: result.height });
    box.insertBefore(done, box.firstChild);
    refreshAutomatic();
  }

  async function read(form, box) {
    var data = await post(root.dataset.queryUrl,
      { function: form.dataset.function, args: argsOf(form) });
    showTable(box, data.table);
  }

  function run(form) {
    var box = outcomeOf(form);
    var action = form.dataset.kind === "write" ? write : read;
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    return action(form, box).catch(function (e) {
      say(box, e && e.message ? e.message : texts.failed, "error");
    }).finally(function () { button.disabled = false; });
  }

  function refreshAutomatic() {
    document.querySelectorAll("form.public-form[data-automatic]").forEach(run);
  }

  document.querySelectorAll("form.public-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!form.reportValidity()) return;
      if (form.dataset.kind === "write" && !state.key) return;
      run(form);
    });
  });
  refreshAutomatic();

  // --- the key card --------------------------------------------------------------------------
  var keyText = document.getElementById("public-key");
  var keyStatus = document.getElementById("key-status");
  var copy = document.getElementById("copy-key");
  if (!keyText) return;
  loadOrMakeKey().then(function (found) {
    state.key = found.key;
    state.publicHex = found.publicHex;
    keyText.textContent = found.publicHex;
    root.dataset.publicKey = found.publicHex;
    if (found.made) keyStatus.textContent = texts.key_made;
    // "My donations" and the like ask for the visitor's own key: fill it in.
    document.querySelectorAll("form.public-form [data-arg=public_key]").forEach(function (el) {
      if (!el.value) el.value = found.publicHex;
    });
    copy.disabled = false;
    document.querySelectorAll("form.public-form[data-kind=write] button[type=submit]")
      .forEach(function (b) { b.disabled = false; });
  }).catch(function () {
    keyText.textContent = "—";
    keyStatus.textContent = texts.no_webcrypto;
    keyStatus.className = "small outcome error";
  });
  copy.addEventListener("click", function () {
    var done = function () { keyStatus.textContent = texts.copied; };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(state.publicHex).then(done, function () {
        selectKey(); done();
      });
    } else { selectKey(); }
  });
  function selectKey() {
    var range = document.createRange();
    range.selectNodeContents(keyText);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
})();
