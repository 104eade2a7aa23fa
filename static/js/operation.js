/* Live progress of one operation over server-sent events (the backend's
 * /api/v1/operations/{id}/events/ stream). Each event carries the operation as JSON
 * (state, progress, steps with their translated ``text``, error_code, error_message); the
 * stream ends when the operation reaches a terminal state. Without JavaScript the page still shows the state at load time. */
(function () {
  "use strict";
  var root = document.getElementById("operation");
  if (!root || root.dataset.finished === "1" || !window.EventSource) return;

  var TERMINAL = ["succeeded", "failed", "cancelled"];
  var labels = JSON.parse(document.getElementById("op-state-labels").textContent);
  var texts = JSON.parse(document.getElementById("op-live-texts").textContent);
  var stateEl = document.getElementById("op-state");
  var bar = document.getElementById("op-progress");
  var barText = document.getElementById("op-progress-text");
  var stepsEl = document.getElementById("op-steps");
  var liveEl = document.getElementById("op-live");
  var errorEl = document.getElementById("op-error");
  var errorText = document.getElementById("op-error-text");
  var shownSteps = stepsEl.children.length;

  function renderState(state) {
    var badge = document.createElement("span");
    badge.className = "badge " + state;
    badge.dataset.state = state;
    badge.textContent = labels[state] || state;
    stateEl.replaceChildren(badge);
  }

  function addStep(step) {
    var li = document.createElement("li");
    var t = document.createElement("time");
    t.className = "small muted";
    t.dateTime = step.time || "";
    t.textContent = (step.time || "").slice(11, 19);
    // ``text``: the step in the page's language (the API renders it); ``message``: English.
    li.append(t, " ", step.text || step.message || "");
    stepsEl.append(li);
  }

  function apply(data) {
    if (data.state) renderState(data.state);
    if (typeof data.progress === "number") {
      bar.value = data.progress;
      barText.textContent = data.progress + "%";
    }
    if (Array.isArray(data.steps)) {
      for (var i = shownSteps; i < data.steps.length; i++) addStep(data.steps[i]);
      shownSteps = Math.max(shownSteps, data.steps.length);
    } else if (data.message) {
      addStep({ time: data.time, message: data.message });
      shownSteps += 1;
    }
    if (data.error_code) {
      errorText.textContent = (data.error_message || "") + " (" + data.error_code + ")";
      errorEl.hidden = false;
    }
    return data.state && TERMINAL.indexOf(data.state) !== -1;
  }

  var source = new EventSource(root.dataset.eventsUrl, { withCredentials: true });
  root.dataset.live = "open";
  function onEvent(ev) {
    var data;
    try { data = JSON.parse(ev.data); } catch (e) { return; }
    if (apply(data.operation || data)) finish(texts.ended);
  }
  function finish(text) {
    source.close();
    liveEl.textContent = text;
    root.dataset.live = "closed";
  }
  source.onmessage = onEvent;
  ["operation", "progress", "state", "step", "snapshot", "update"].forEach(function (name) {
    source.addEventListener(name, onEvent);
  });
  ["end", "done", "complete"].forEach(function (name) {
    source.addEventListener(name, function (ev) { onEvent(ev); finish(texts.ended); });
  });
  source.onerror = function () {
    // EventSource reconnects by itself; say so, and stop when the server closed for good.
    if (source.readyState === EventSource.CLOSED) finish(texts.lost);
    else liveEl.textContent = texts.reconnecting;
  };
})();
