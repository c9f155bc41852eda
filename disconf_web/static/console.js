/* disconf console: the little JavaScript the pages need (no framework, no CDN). */
"use strict";
(function () {
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  // fetch() wrapper for console scripts: sends the CSRF header with the session cookie.
  window.disconfFetch = function (url, options) {
    options = options || {};
    options.headers = Object.assign({ "X-CSRF-Token": csrfToken() }, options.headers || {});
    options.credentials = "same-origin";
    return fetch(url, options);
  };

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  document.addEventListener("click", function (event) {
    var tab = event.target.closest("[data-tab]");
    if (tab) {
      var tabs = tab.closest("[data-tabs]");
      var name = tab.getAttribute("data-tab");
      tabs.querySelectorAll("[data-tab]").forEach(function (t) {
        t.classList.toggle("active", t === tab);
      });
      var pane = tabs.nextElementSibling;
      while (pane && pane.hasAttribute("data-pane")) {
        pane.hidden = pane.getAttribute("data-pane") !== name;
        pane = pane.nextElementSibling;
      }
    }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var input = document.querySelector(copy.getAttribute("data-copy"));
      input.select();
      if (navigator.clipboard) {
        navigator.clipboard.writeText(input.value).then(function () { copy.textContent = "Copied"; });
      }
    }
  });
})();
