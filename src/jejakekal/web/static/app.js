/* jejakekal UI: the little the server cannot do. No framework, no build step. */
(function () {
  "use strict";

  // Enter sends the command; Shift+Enter (or an IME composition) keeps typing.
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target && target.id === "command" && event.key === "Enter" &&
        !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (target.value.trim() && target.form) {
        target.form.requestSubmit();
      }
    }
  });

  // A sent command clears the box, ready for the next one.
  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.id === "command-form" && event.detail.successful) {
      elt.reset();
    }
  });

  // A poll answered after its #exec was replaced (the operator picked another run, or
  // an action answered first) would bring back the old run: drop it, out-of-band parts too.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (source && source.id === "exec" && !source.isConnected) {
      event.detail.shouldSwap = false;
    }
  });

  // Citations: highlight the quoted span of the document text as <mark class="cited">.
  // Offsets count code points, as Python does; Array.from splits a string the same way.
  function highlight(link) {
    var pre = document.getElementById("doc-text");
    if (!pre) {
      return;
    }
    var chars = Array.from(pre.textContent);
    var start = Number(link.dataset.start);
    var end = Number(link.dataset.end);
    if (!(start >= 0 && end > start && end <= chars.length)) {
      return;
    }
    var mark = document.createElement("mark");
    mark.className = "cited";
    mark.textContent = chars.slice(start, end).join("");
    pre.replaceChildren(
      document.createTextNode(chars.slice(0, start).join("")),
      mark,
      document.createTextNode(chars.slice(end).join(""))
    );
    document.querySelectorAll("a.citation[aria-pressed]").forEach(function (other) {
      other.removeAttribute("aria-pressed");
    });
    link.setAttribute("aria-pressed", "true");
    var status = document.getElementById("cite-status");
    if (status) {
      status.textContent = "Highlighted characters " + start + "–" + end +
        " (chunk " + link.dataset.chunkId + ").";
    }
    mark.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.citation");
    if (link) {
      event.preventDefault();
      highlight(link);
    }
  });

  // Citations act as buttons: Space works too, as it does on a button.
  document.addEventListener("keydown", function (event) {
    var link = event.target;
    if (event.key === " " && link && link.matches && link.matches("a.citation")) {
      event.preventDefault();
      highlight(link);
    }
  });

  // A step picked by ?step= is scrolled to on load.
  function showSelectedStep() {
    var step = document.querySelector("#timeline .step.selected");
    if (step) {
      step.scrollIntoView({ block: "nearest" });
    }
  }
  document.addEventListener("DOMContentLoaded", showSelectedStep);
})();
