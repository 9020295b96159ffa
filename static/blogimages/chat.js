// The chat form: after a message is sent and its turn is shown, empty the box for the next one.
// (A listener here rather than hx-on: the Content-Security-Policy forbids evaluated strings.)
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.target.closest && event.target.closest("#chat-form");
  if (form && event.detail.successful) {
    form.reset();
    form.querySelector("textarea")?.focus();
  }
});
