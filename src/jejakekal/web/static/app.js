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

  // A PDF citation also shows its page's image with the cited box outlined; the server
  // gives the box as per cents of the page (data-left/top/width/height).
  function showPage(link) {
    var figure = document.getElementById("page-view");
    var image = document.getElementById("page-image");
    var box = document.getElementById("cite-box");
    if (!figure || !image || !box || !link.dataset.src) {
      return;
    }
    ["left", "top", "width", "height"].forEach(function (side) {
      box.setAttribute("data-" + side, link.dataset[side]);
    });
    placeBars(box);
    image.alt = "Page " + link.dataset.page + " of the document";
    image.src = link.dataset.src;
    document.getElementById("page-caption").textContent = "Page " + link.dataset.page +
      ": the cited passage is outlined.";
    figure.hidden = false;
    figure.scrollIntoView({ block: "nearest" });
  }

  function cite(link) {
    highlight(link);
    showPage(link);
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.citation");
    if (link) {
      event.preventDefault();
      cite(link);
    }
  });

  // Citations act as buttons: Space works too, as it does on a button.
  document.addEventListener("keydown", function (event) {
    var link = event.target;
    if (event.key === " " && link && link.matches && link.matches("a.citation")) {
      event.preventDefault();
      cite(link);
    }
  });

  // Timeline bars: the server gives each bar's place as data-left / data-width (per
  // cent of the run's span). The page's Content-Security-Policy refuses style=""
  // attributes, and htmx copies parts of the page (its history snapshots) in ways that would
  // apply them, so the places are rules of a constructed stylesheet, one per value
  // (`.bar[data-left="12.5"] { left: 12.5% }`), which a CSP allows and no copy carries.
  var barSheet = null;
  var placed = {};
  var MAX_BAR_RULES = 2000;
  function placeBars(root) {
    if (!root || !root.querySelectorAll) {
      return;
    }
    if (barSheet && barSheet.cssRules.length > MAX_BAR_RULES) {
      // A run polled for hours: start over with the values the page shows now.
      barSheet.replaceSync("");
      placed = {};
      root = document;
    }
    var rules = [];
    // A cited box on a PDF page's image is placed the same way, on four sides.
    [[".bar", ["left", "width"]], [".cite-box", ["left", "top", "width", "height"]]]
      .forEach(function (kind) {
        var selector = kind[0];
        var found = Array.from(root.querySelectorAll(selector + "[data-left]"));
        if (root.matches && root.matches(selector + "[data-left]")) {
          found.push(root);
        }
        found.forEach(function (element) {
          kind[1].forEach(function (side) {
            var value = element.getAttribute("data-" + side);
            var key = selector + side + ":" + value;
            if (value === null || !/^[0-9]+(\.[0-9]+)?$/.test(value) || placed[key]) {
              return;
            }
            placed[key] = true;
            rules.push(selector + "[data-" + side + '="' + value + '"] { ' + side + ": " +
              value + "%; }");
          });
        });
      });
    if (!rules.length) {
      return;
    }
    if (!barSheet) {
      barSheet = new CSSStyleSheet();
      document.adoptedStyleSheets = document.adoptedStyleSheets.concat([barSheet]);
    }
    rules.forEach(function (rule) {
      barSheet.insertRule(rule, barSheet.cssRules.length);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { placeBars(document); });
  // htmx:load fires on every element a swap (out of band too) or a history restore
  // brings into the page.
  document.addEventListener("htmx:load", function (event) { placeBars(event.target); });
  document.addEventListener("htmx:historyRestore", function () { placeBars(document); });

  // A step picked by ?step= is scrolled to on load.
  function showSelectedStep() {
    var step = document.querySelector("#timeline .step.selected");
    if (step) {
      step.scrollIntoView({ block: "nearest" });
    }
  }
  document.addEventListener("DOMContentLoaded", showSelectedStep);

  // A search result opens a chunk list with its chunk marked: bring it into view.
  function showFocusedChunk() {
    var chunk = document.querySelector(".chunk-focused");
    if (chunk) {
      chunk.scrollIntoView({ block: "center" });
    }
  }
  document.addEventListener("DOMContentLoaded", showFocusedChunk);

  // Uploads: a file dropped on the zone is sent as a chosen one is, with its progress.
  document.addEventListener("dragover", function (event) {
    var zone = event.target.closest && event.target.closest("#drop-zone");
    if (zone) {
      event.preventDefault();
      zone.classList.add("dragging");
    }
  });
  document.addEventListener("dragleave", function (event) {
    var zone = event.target.closest && event.target.closest("#drop-zone");
    if (zone) {
      zone.classList.remove("dragging");
    }
  });
  document.addEventListener("drop", function (event) {
    var zone = event.target.closest && event.target.closest("#drop-zone");
    var input = document.getElementById("upload-file");
    if (!zone || !input || !event.dataTransfer || !event.dataTransfer.files.length) {
      return;
    }
    event.preventDefault();
    zone.classList.remove("dragging");
    input.files = event.dataTransfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
  function uploadProgress(event, shown) {
    var form = event.detail && event.detail.elt;
    var bar = document.getElementById("upload-progress");
    if (!form || form.id !== "upload-form" || !bar) {
      return null;
    }
    bar.hidden = !shown;
    return bar;
  }
  document.addEventListener("htmx:xhr:loadstart", function (event) {
    var bar = uploadProgress(event, true);
    if (bar) {
      bar.value = 0;
    }
  });
  document.addEventListener("htmx:xhr:progress", function (event) {
    var bar = uploadProgress(event, true);
    if (bar && event.detail.lengthComputable && event.detail.total) {
      bar.value = Math.round(100 * event.detail.loaded / event.detail.total);
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var bar = uploadProgress(event, false);
    if (bar) {
      document.getElementById("upload-form").reset();
    }
  });

  // Gate deadlines count down live: every `data-deadline` (an ISO time) reads
  // "due in 4m 05s", then "deadline passed" (views.countdown says the same on the server).
  function countdownText(deadline) {
    var left = Math.floor((Date.parse(deadline) - Date.now()) / 1000);
    if (isNaN(left)) {
      return null;
    }
    if (left < 0) {
      return "deadline passed";
    }
    var hours = Math.floor(left / 3600);
    var minutes = Math.floor((left % 3600) / 60);
    var seconds = left % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    if (hours) {
      return "due in " + hours + "h " + pad(minutes) + "m " + pad(seconds) + "s";
    }
    if (minutes) {
      return "due in " + minutes + "m " + pad(seconds) + "s";
    }
    return "due in " + seconds + "s";
  }
  function tickDeadlines() {
    document.querySelectorAll("[data-deadline]").forEach(function (element) {
      var text = countdownText(element.getAttribute("data-deadline"));
      if (text !== null && element.textContent !== text) {
        element.textContent = text;
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    tickDeadlines();
    window.setInterval(tickDeadlines, 1000);
  });
  document.addEventListener("htmx:load", tickDeadlines);
})();
