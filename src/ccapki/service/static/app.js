// ccapki dashboard: progressive enhancement only; every page works without it.
// (Loaded as a file: the Content-Security-Policy forbids inline script.)
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // a select marked "autosubmit" submits its form when changed (the button stays for no-JS)
  document.querySelectorAll("select.autosubmit").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.form) { select.form.submit(); }
    });
  });
  // a form submitted once shows it is busy and is not submitted twice (an apply can be slow)
  document.querySelectorAll("form[method='post']").forEach(function (form) {
    form.addEventListener("submit", function () {
      if (form.hasAttribute("data-no-busy")) { return; }
      window.setTimeout(function () {
        form.querySelectorAll("button[type='submit']").forEach(function (b) {
          b.disabled = true;
          b.setAttribute("aria-busy", "true");
        });
      }, 0);
    });
  });
});
