// The chat page. (Listeners here rather than hx-on: the Content-Security-Policy forbids evaluated strings.)
(function () {
  "use strict";

  // After a message is sent and its turn is shown, empty the box for the next one.
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target.closest && event.target.closest("#chat-form");
    if (form && event.detail.successful) {
      form.reset();
      var box = form.querySelector("textarea");
      if (box) { box.focus(); }
    }
  });

  function replaceWith(article, html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    var fresh = template.content.firstElementChild;
    article.replaceWith(fresh);
    htmx.process(fresh);  // its images poll themselves until they are made
  }

  // Another request is answering, or the stream broke: ask the server, which answers or polls.
  function poll(article) {
    htmx.ajax("GET", article.dataset.poll, { target: article, swap: "outerHTML" });
  }

  // An unanswered message from a streaming assistant: its text arrives by server-sent events.
  function stream(article) {
    if (article.dataset.streaming) { return; }
    article.dataset.streaming = "1";
    var out = article.querySelector("[data-streamed]");
    var source = new EventSource(article.dataset.stream);
    source.addEventListener("text", function (event) {
      out.textContent += JSON.parse(event.data).text;
    });
    source.addEventListener("status", function (event) {
      var waiting = article.querySelector(".chat-waiting [data-working]");
      if (waiting) { waiting.textContent = JSON.parse(event.data).text; }
    });
    source.addEventListener("done", function (event) {
      source.close();
      replaceWith(article, JSON.parse(event.data).html);
    });
    source.addEventListener("wait", function () {
      source.close();
      poll(article);
    });
    // EventSource would reconnect by itself and ask again; once is enough, then poll.
    source.onerror = function () {
      source.close();
      if (article.isConnected) { poll(article); }
    };
  }

  function start(root) {
    if (root.matches && root.matches("[data-stream]")) { stream(root); }
    if (root.querySelectorAll) { root.querySelectorAll("[data-stream]").forEach(stream); }
  }

  document.addEventListener("htmx:load", function (event) { start(event.detail.elt); });
  document.addEventListener("DOMContentLoaded", function () { start(document); });
})();
