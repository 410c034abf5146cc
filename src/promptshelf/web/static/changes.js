// The live change notice: ask /-/changes every few seconds whether the prompt on this page changed
// (answered from the server's memory, fed by its change watcher), and say so without reloading.
(function () {
  "use strict";
  var box = document.getElementById("change-notice");
  if (!box || !window.fetch) return;
  var url = box.getAttribute("data-url");
  var editing = box.getAttribute("data-mode") === "edit";
  var every = 2000;
  var timer = null;
  var done = false;

  function show(message) {
    done = true;
    box.textContent = message + " ";
    if (editing) {
      box.appendChild(document.createTextNode(
        "Your edit is kept: review it to see it against the new version before publishing."));
    } else {
      var link = document.createElement("a");
      link.href = window.location.href;
      link.textContent = "Reload to see it";
      box.appendChild(link);
    }
    box.hidden = false;
  }

  function schedule() {
    if (!done && timer === null) timer = window.setTimeout(poll, every);
  }

  function poll() {
    timer = null;
    if (done || document.hidden) return; // visibilitychange starts it again
    window.fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (answer && answer.changed) { show(answer.message); return; }
        if (answer && typeof answer.since === "number") {
          url = url.replace(/([?&]since=)\d+/, "$1" + answer.since);
        }
        schedule();
      }, schedule);
  }

  document.addEventListener("visibilitychange", function () { if (!document.hidden) schedule(); });
  schedule();
})();
