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
  // the CSR form warns, as `ccapki csr` does, of an identity that is not third-party
  var csrIdentity = document.getElementById("csr-identity");
  var csrWarning = document.getElementById("csr-warning");
  var csrWarningText = document.getElementById("csr-warning-text");
  if (csrIdentity && csrWarning && csrWarningText) {
    var showCsrWarning = function () {
      var option = csrIdentity.options[csrIdentity.selectedIndex];
      var text = option ? option.getAttribute("data-warning") : null;
      csrWarningText.textContent = text || "";
      csrWarning.hidden = !text;
    };
    csrIdentity.addEventListener("change", showCsrWarning);
    showCsrWarning();
  }
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
