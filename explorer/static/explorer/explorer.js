// The explorer pages' behaviour: new blocks appear while the page is open (the blocks API
// polled every few seconds), "Copy" buttons, and "Verify" buttons that fetch a key's proof
// and check it with proof.js. No inline script: the CSP allows only this origin's files.
(function () {
  "use strict";

  var POLL_MS = 3000;
  var KEEP_ROWS = 10;

  function cell(label, child) {
    var td = document.createElement("td");
    td.setAttribute("data-label", label);
    if (typeof child === "string") { td.textContent = child; } else { td.appendChild(child); }
    return td;
  }

  function blockRow(table, labels, block) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-height", String(block.height));
    var link = document.createElement("a");
    link.href = table.getAttribute("data-block-url").replace(/\/0\/$/, "/" + block.height + "/");
    link.textContent = String(block.height);
    var time = document.createElement("time");
    time.setAttribute("datetime", block.time || "");
    time.textContent = block.time || "";
    tr.appendChild(cell(labels[0], link));
    tr.appendChild(cell(labels[1], time));
    tr.appendChild(cell(labels[2], block.proposer_name || block.proposer || ""));
    tr.appendChild(cell(labels[3], String(block.num_txs)));
    return tr;
  }

  function liveBlocks(table) {
    var body = table.tBodies[0];
    var labels = Array.prototype.map.call(table.tHead.rows[0].cells,
                                          function (th) { return th.textContent; });
    var latest = document.getElementById("explorer-latest");
    async function poll() {
      try {
        var res = await fetch(table.getAttribute("data-blocks-url"), {
          credentials: "same-origin", headers: { "Accept": "application/json" } });
        if (!res.ok) { return; }
        var page = await res.json();
        var top = body.rows.length ? Number(body.rows[0].getAttribute("data-height")) : 0;
        var fresh = page.blocks.filter(function (b) { return b.height > top; });
        fresh.sort(function (a, b) { return a.height - b.height; });
        fresh.forEach(function (b) { body.insertBefore(blockRow(table, labels, b), body.firstChild); });
        while (body.rows.length > KEEP_ROWS) { body.deleteRow(body.rows.length - 1); }
        if (latest) { latest.textContent = String(page.latest_height); }
        table.setAttribute("data-updated", String(page.latest_height));
      } catch (err) {
        // A network hiccup: the next poll tries again.
      }
    }
    setInterval(poll, POLL_MS);
    poll();
  }

  function verifyButtons(table) {
    var url = table.getAttribute("data-proof-url");
    table.addEventListener("click", async function (event) {
      var button = event.target.closest("button[data-verify]");
      if (!button) { return; }
      var out = button.parentNode.querySelector(".proof-result");
      out.textContent = "…";
      try {
        var res = await fetch(url + "&key=" + encodeURIComponent(button.getAttribute("data-verify")),
                              { credentials: "same-origin", headers: { "Accept": "application/json" } });
        if (!res.ok) { throw new Error(String(res.status)); }
        var answer = await res.json();
        var ok = await window.BaasProof.verifyAnswer(answer);
        // The server checked the block's header against its commit: how many of the
        // validators the platform recorded signed it (more than two thirds: trusted).
        var signed = answer.signed || { validators: 0, of: 0, trusted: false };
        var trusted = signed.trusted === true;
        out.setAttribute("data-state", ok ? (trusted ? "ok" : "unsigned") : "bad");
        out.textContent = (ok ? out.getAttribute("data-ok") : out.getAttribute("data-bad")) +
          " " + answer.header_height + " (" + answer.app_hash.slice(0, 16) + "…), " +
          out.getAttribute(trusted ? "data-signed" : "data-unsigned")
            .replace("{signed}", String(signed.validators)).replace("{known}", String(signed.of));
      } catch (err) {
        out.setAttribute("data-state", "error");
        out.textContent = out.getAttribute("data-failed");
      }
    });
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (source && navigator.clipboard) { navigator.clipboard.writeText(source.textContent); }
    });
  });
  var blocks = document.querySelector("table#explorer-blocks[data-live]");
  if (blocks) { liveBlocks(blocks); }
  var keys = document.getElementById("state-keys");
  if (keys && window.BaasProof) { verifyButtons(keys); }
})();
