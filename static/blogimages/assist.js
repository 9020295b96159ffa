// Prompt assistance on the tester and the library form: "Use this proposal" copies the proposal's
// parts into the form's own fields (nothing is saved: the form's button does that), "Discard" drops it.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var accept = event.target.closest && event.target.closest("[data-assist-accept]");
    var discard = event.target.closest && event.target.closest("[data-assist-discard]");
    if (!accept && !discard) { return; }
    var proposal = (accept || discard).closest(".assist-proposal");
    var box = proposal.parentElement;
    if (accept) {
      var form = document.getElementById(accept.dataset.assistAccept);
      proposal.querySelectorAll("[data-part]").forEach(function (source) {
        var field = form && form.elements.namedItem(source.dataset.part);
        if (field) {
          field.value = source.value;
          field.dispatchEvent(new Event("input", { bubbles: true }));
        }
      });
      box.innerHTML = "";
      var done = document.createElement("p");
      done.className = "small";
      done.setAttribute("role", "status");
      done.dataset.assistUsed = "";
      done.textContent = "The proposal is in the form; nothing is saved until you use the form's own button.";
      box.appendChild(done);
      var first = form && form.elements.namedItem("description");
      if (first) { first.focus(); }
    } else {
      box.innerHTML = "";
    }
  });
})();
