/* Publishing helpers: click an image to set its focal point; the develop screen's lightbox
 * and "prompt changed" hint. Pages work without this file (the forms have plain inputs). */
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var img = event.target.closest("[data-focal-image]");
    if (!img) return;
    var form = img.closest("[data-focal-form]");
    var box = img.getBoundingClientRect();
    var x = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    var y = Math.min(1, Math.max(0, (event.clientY - box.top) / box.height));
    form.querySelector("[name=x]").value = x.toFixed(3);
    form.querySelector("[name=y]").value = y.toFixed(3);
    form.requestSubmit();
  });

  // The develop screen: say when the prompt box differs from the saved prompt.
  function markDirty(form) {
    var changed = false;
    form.querySelectorAll("[data-saved]").forEach(function (field) {
      if (field.value !== field.dataset.saved) changed = true;
    });
    var hint = form.querySelector("[data-dirty-hint]");
    if (hint) hint.hidden = !changed;
    form.classList.toggle("is-dirty", changed);
  }
  document.addEventListener("input", function (event) {
    var form = event.target.closest("form[data-prompt-form]");
    if (form) markDirty(form);
  });

  // Lightbox: candidates open at full size; arrow keys move, Escape closes, "c" adds to compare.
  var dialog, items = [], index = 0, compare = [];
  function show(i) {
    index = (i + items.length) % items.length;
    var item = items[index];
    dialog.querySelector("[data-lightbox-img]").src = item.dataset.full;
    dialog.querySelector("[data-lightbox-img]").alt = item.dataset.alt || "";
    dialog.querySelector("[data-lightbox-caption]").textContent = item.dataset.caption || "";
    var pair = dialog.querySelector("[data-lightbox-compare]");
    pair.innerHTML = "";
    compare.forEach(function (other) {
      var im = document.createElement("img");
      im.src = other.dataset.full; im.alt = other.dataset.alt || ""; pair.appendChild(im);
    });
    dialog.classList.toggle("comparing", compare.length > 0);
  }
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-lightbox]");
    if (!opener) return;
    event.preventDefault();
    dialog = document.getElementById("lightbox");
    items = Array.prototype.slice.call(opener.closest("[data-lightbox-group]").querySelectorAll("[data-lightbox]"));
    compare = [];
    if (!dialog.open) dialog.showModal();
    show(items.indexOf(opener));
    dialog.querySelector("[data-lightbox-close]").focus();
  });
  document.addEventListener("keydown", function (event) {
    if (!dialog || !dialog.open) return;
    if (event.key === "ArrowRight") { show(index + 1); event.preventDefault(); }
    else if (event.key === "ArrowLeft") { show(index - 1); event.preventDefault(); }
    else if (event.key === "c") { compare = compare.length ? [] : [items[index]]; show(index + 1); }
  });
  document.addEventListener("click", function (event) {
    if (!dialog) return;
    if (event.target.closest("[data-lightbox-close]")) dialog.close();
    else if (event.target.closest("[data-lightbox-next]")) show(index + 1);
    else if (event.target.closest("[data-lightbox-prev]")) show(index - 1);
    else if (event.target.closest("[data-lightbox-pin]")) { compare = compare.length ? [] : [items[index]]; show(index + 1); }
  });
})();

// After a slot's prompt was saved and used, the box matches the saved prompt again.
document.addEventListener("htmx:afterRequest", function (event) {
  if (!event.detail.successful) return;
  var slot = event.target.closest && event.target.closest("article.develop-section");
  if (!slot) return;
  slot.querySelectorAll("form[data-prompt-form] [data-saved]").forEach(function (field) {
    field.dataset.saved = field.value;
  });
  slot.querySelectorAll("[data-dirty-hint]").forEach(function (hint) { hint.hidden = true; });
});

// The size note follows the Format box as the author types ("square" -> 1024×1024).
document.addEventListener("input", function (event) {
  if (!event.target.matches("form[data-prompt-form] [name=format]")) return;
  var data = document.getElementById("shape-sizes");
  var note = event.target.closest("form").querySelector(".size-note");
  if (!data || !note) return;
  var shapes = JSON.parse(data.textContent);
  var match = event.target.value.toLowerCase().match(new RegExp("\\b(" + Object.keys(shapes).join("|") + ")\\b"));
  var text = match
    ? shapes[match[1]][0] + "×" + shapes[match[1]][1] + " (“" + match[1] + "” in Format)"
    : note.dataset.slotSize + " (this slot’s size)";
  note.textContent = "Next image: " + text + ", unless a setting is chosen.";
});
