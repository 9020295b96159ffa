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

/* The gallery: count the ticked tiles, "select all shown", and a keyboard lightbox.
 * Without JavaScript the checkboxes and buttons are a plain form and each tile links to its page. */
(function () {
  "use strict";

  function picks() { return Array.prototype.slice.call(document.querySelectorAll("#gallery-bulk [data-pick]")); }

  function updateCount() {
    var out = document.getElementById("selected-count");
    if (!out) { return; }
    var all = picks(), ticked = all.filter(function (box) { return box.checked; });
    out.textContent = ticked.length ? ticked.length + " selected" : "Tick images to act on several at once";
    document.querySelectorAll("#gallery-bulk .thumb").forEach(function (tile) {
      var box = tile.querySelector(":scope > .pick [data-pick]");
      tile.classList.toggle("is-selected", !!(box && box.checked));
    });
    var all_box = document.querySelector("[data-select-all]");
    if (all_box) {
      all_box.checked = all.length > 0 && ticked.length === all.length;
      all_box.indeterminate = ticked.length > 0 && ticked.length < all.length;
    }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("[data-select-all]")) {
      // Only what is shown: copies inside a closed stack stay as they are.
      picks().filter(function (box) { return box.offsetParent !== null; })
        .forEach(function (box) { box.checked = target.checked; });
    }
    if (target.matches && (target.matches("[data-pick]") || target.matches("[data-select-all]"))) { updateCount(); }
  });
  document.addEventListener("htmx:afterSettle", updateCount);
  document.addEventListener("DOMContentLoaded", updateCount);

  // -- lightbox ------------------------------------------------------------------------
  var dialog, image, current = null, opener = null;

  function frames() {
    // Every openable tile in page order, stacked copies included when their stack is open.
    return Array.prototype.slice.call(document.querySelectorAll("#gallery-grid a.frame[data-full]"))
      .filter(function (a) { return a.offsetParent !== null; });
  }

  function show(frame) {
    current = frame;
    var tile = frame.closest(".thumb");
    var caption = frame.getAttribute("title") || "";
    var img = frame.querySelector("img");
    image.src = frame.dataset.full;
    image.alt = img ? img.alt : caption;
    document.getElementById("lightbox-title").textContent =
      "Image #" + tile.dataset.output + (frame.dataset.size ? " · " + frame.dataset.size : "");
    document.getElementById("lightbox-caption").textContent = caption;
    document.getElementById("lightbox-details").href = frame.getAttribute("href");
    document.getElementById("lightbox-original").href = frame.dataset.full;
    var list = frames(), index = list.indexOf(frame);
    dialog.querySelector("[data-lightbox=prev]").disabled = index <= 0;
    dialog.querySelector("[data-lightbox=next]").disabled = index < 0 || index >= list.length - 1;
  }

  function step(delta) {
    var list = frames(), index = list.indexOf(current) + delta;
    if (index >= 0 && index < list.length) { show(list[index]); }
  }

  function zoom(on) {
    dialog.classList.toggle("zoomed", on);
    dialog.querySelector("[data-lightbox=zoom]").setAttribute("aria-pressed", on ? "true" : "false");
  }

  document.addEventListener("DOMContentLoaded", function () {
    dialog = document.getElementById("lightbox");
    if (!dialog || typeof dialog.showModal !== "function") { return; }
    image = document.getElementById("lightbox-image");
    document.addEventListener("click", function (event) {
      var frame = event.target.closest && event.target.closest("#gallery-grid a.frame[data-full]");
      if (!frame || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) { return; }
      event.preventDefault();
      opener = frame;
      zoom(false);
      show(frame);
      dialog.showModal();
    });
    dialog.addEventListener("click", function (event) {
      var action = event.target.closest && event.target.closest("[data-lightbox]");
      if (action) {
        var name = action.dataset.lightbox;
        if (name === "close") { dialog.close(); }
        if (name === "prev") { step(-1); }
        if (name === "next") { step(1); }
        if (name === "zoom") { zoom(!dialog.classList.contains("zoomed")); }
      } else if (event.target === dialog) {
        dialog.close();  // a click on the backdrop
      }
    });
    dialog.addEventListener("keydown", function (event) {
      if (event.key === "ArrowRight") { event.preventDefault(); step(1); }
      if (event.key === "ArrowLeft") { event.preventDefault(); step(-1); }
      if (event.key === "f" || event.key === "F") { zoom(!dialog.classList.contains("zoomed")); }
    });
    // Esc closes a modal <dialog> natively; give focus back to the tile it was opened from.
    dialog.addEventListener("close", function () {
      image.src = "data:,";
      var back = current || opener;
      // After the dialog's own focus restore (to the opener), so the tile last shown wins.
      if (back) { setTimeout(function () { back.focus(); }, 0); }
    });
  });
})();
