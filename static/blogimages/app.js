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
