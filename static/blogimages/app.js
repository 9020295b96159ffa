/* blogimages: elapsed seconds on busy indicators and waiting images. No framework.
 *
 * htmx puts the class `htmx-request` on a request's indicator (hx-indicator) and disables
 * its button (hx-disabled-elt); this only counts the seconds shown beside the spinner.
 */
(function () {
  "use strict";

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".busy-indicator").forEach(function (el) {
      var busy = el.classList.contains("htmx-request");
      if (busy && !el.dataset.start) {
        el.dataset.start = String(now);
      } else if (!busy && el.dataset.start) {
        delete el.dataset.start;
      }
      var out = el.querySelector("[data-elapsed]");
      if (out) {
        out.textContent = busy ? String(Math.floor((now - Number(el.dataset.start)) / 1000)) : "0";
      }
    });
    // Images waiting for a worker: seconds since they were queued.
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var since = Date.parse(el.dataset.since);
      if (!isNaN(since)) {
        el.textContent = String(Math.max(0, Math.floor((now - since) / 1000)));
      }
    });
  }

  document.addEventListener("htmx:beforeRequest", tick);
  setInterval(tick, 250);
})();

/* A refused request names the fields to change (data-error-field="width height"): mark them
 * invalid in the form that sent it, and focus the first, so the author sees what to fix. */
(function () {
  "use strict";
  document.addEventListener("htmx:afterSwap", function (event) {
    var box = event.detail.target.querySelector("[data-error-field]");
    document.querySelectorAll("[data-marked-invalid]").forEach(function (el) {
      el.removeAttribute("aria-invalid");
      delete el.dataset.markedInvalid;
    });
    if (!box) { return; }
    var first = null;
    box.dataset.errorField.split(" ").forEach(function (name) {
      var field = document.getElementById("id_" + name);
      if (!field) { return; }
      field.setAttribute("aria-invalid", "true");
      field.dataset.markedInvalid = "1";
      var details = field.closest("details");
      if (details) { details.open = true; }
      first = first || field;
    });
    if (first) { first.focus({ preventScroll: true }); }
  });
})();
