/* The image editor: paint a mask over the image (pointer and touch), brush or eraser, brush
 * size, undo, clear, invert; the painted area is sent as a PNG whose transparent pixels mark
 * what to change. Also the before/after slider of the results. Without this file the page
 * still works: the mask can be uploaded as a file. */
(function () {
  "use strict";

  var MAX_UNDO = 30;

  function setupPainter(form) {
    var stage = form.querySelector("[data-mask-stage]");
    var canvas = form.querySelector("[data-mask-canvas]");
    var tools = form.querySelector("[data-mask-tools]");
    var output = form.querySelector("[data-mask-data]");
    if (!stage || !canvas) return;
    canvas.hidden = false;
    tools.hidden = false;
    var ctx = canvas.getContext("2d");
    var undo = [];
    var painting = false;
    var last = null;
    var painted = false;

    function size() {
      var scale = canvas.width / canvas.getBoundingClientRect().width;
      return Number(form.querySelector("[data-brush-size]").value) * scale;
    }
    function tool() {
      var checked = form.querySelector("[data-tool]:checked");
      return checked ? checked.value : "brush";
    }
    function point(clientX, clientY) {
      var box = canvas.getBoundingClientRect();
      return {x: (clientX - box.left) * canvas.width / box.width, y: (clientY - box.top) * canvas.height / box.height};
    }
    function snapshot() {
      undo.push(ctx.getImageData(0, 0, canvas.width, canvas.height));
      if (undo.length > MAX_UNDO) undo.shift();
    }
    function stroke(from, to) {
      ctx.globalCompositeOperation = tool() === "eraser" ? "destination-out" : "source-over";
      ctx.strokeStyle = "rgba(255, 40, 80, 1)";
      ctx.fillStyle = "rgba(255, 40, 80, 1)";
      ctx.lineWidth = size();
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.beginPath();
      ctx.moveTo(from.x, from.y);
      ctx.lineTo(to.x + 0.01, to.y);
      ctx.stroke();
      painted = true;
    }
    function start(x, y) {
      snapshot();
      painting = true;
      last = point(x, y);
      stroke(last, last);
    }
    function move(x, y) {
      if (!painting) return;
      var next = point(x, y);
      stroke(last, next);
      last = next;
    }
    function end() {
      painting = false;
      last = null;
    }

    if (window.PointerEvent) {
      canvas.addEventListener("pointerdown", function (event) {
        canvas.setPointerCapture(event.pointerId);
        start(event.clientX, event.clientY);
        event.preventDefault();
      });
      canvas.addEventListener("pointermove", function (event) { move(event.clientX, event.clientY); });
      canvas.addEventListener("pointerup", end);
      canvas.addEventListener("pointercancel", end);
    } else {
      canvas.addEventListener("mousedown", function (event) { start(event.clientX, event.clientY); });
      canvas.addEventListener("mousemove", function (event) { move(event.clientX, event.clientY); });
      window.addEventListener("mouseup", end);
      canvas.addEventListener("touchstart", function (event) {
        var t = event.touches[0];
        start(t.clientX, t.clientY);
        event.preventDefault();
      }, {passive: false});
      canvas.addEventListener("touchmove", function (event) {
        var t = event.touches[0];
        move(t.clientX, t.clientY);
        event.preventDefault();
      }, {passive: false});
      canvas.addEventListener("touchend", end);
    }

    form.querySelector("[data-mask-undo]").addEventListener("click", function () {
      if (undo.length) ctx.putImageData(undo.pop(), 0, 0);
    });
    form.querySelector("[data-mask-clear]").addEventListener("click", function () {
      snapshot();
      ctx.clearRect(0, 0, canvas.width, canvas.height);
    });
    form.querySelector("[data-mask-invert]").addEventListener("click", function () {
      snapshot();
      var data = ctx.getImageData(0, 0, canvas.width, canvas.height);
      for (var i = 0; i < data.data.length; i += 4) {
        var on = data.data[i + 3] >= 128;
        data.data[i] = 255; data.data[i + 1] = 40; data.data[i + 2] = 80;
        data.data[i + 3] = on ? 0 : 255;
      }
      ctx.putImageData(data, 0, 0);
      painted = true;
    });

    function anyPaint() {
      var data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      for (var i = 3; i < data.length; i += 4) if (data[i] >= 128) return true;
      return false;
    }

    // The mask as the app wants it: opaque where the image stays, transparent where painted.
    form.addEventListener("submit", function () {
      output.value = "";
      if (!painted || !anyPaint()) return;
      var mask = document.createElement("canvas");
      mask.width = canvas.width;
      mask.height = canvas.height;
      var m = mask.getContext("2d");
      m.fillStyle = "#000";
      m.fillRect(0, 0, mask.width, mask.height);
      m.globalCompositeOperation = "destination-out";
      m.drawImage(canvas, 0, 0);
      output.value = mask.toDataURL("image/png");
    });
  }

  function setupStrength(form) {
    var range = form.querySelector("[data-strength]");
    var shown = form.querySelector("[data-strength-value]");
    if (!range || !shown) return;
    range.addEventListener("input", function () { shown.textContent = range.value; });
  }

  function applySlider(input) {
    var figure = input.closest(".edit-result").querySelector("[data-after]");
    if (figure) figure.style.clipPath = "inset(0 " + (100 - Number(input.value)) + "% 0 0)";
  }
  document.addEventListener("input", function (event) {
    if (event.target.matches("[data-before-after-range]")) applySlider(event.target);
  });
  function initSliders(root) {
    root.querySelectorAll("[data-before-after-range]").forEach(applySlider);
  }
  document.addEventListener("htmx:afterSwap", function (event) { initSliders(event.target.parentNode || document); });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-editor]").forEach(function (form) {
      setupPainter(form);
      setupStrength(form);
    });
    initSliders(document);
  });
})();
