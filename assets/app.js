// Blink admin UI: small enhancements only; every page works without this script.
"use strict";
// The Clipboard API exists only on HTTPS (and localhost); a Blink tried over plain HTTP falls back to the older
// selection copy.
function copyText(source) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(source.value);
  source.select();
  return document.execCommand("copy") ? Promise.resolve() : Promise.reject(new Error("copy refused"));
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      copyText(source).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 2000);
      }, function () {
        source.select();
      });
    });
  });
  // A readonly field selects all on focus, for copying by hand.
  document.querySelectorAll("input[readonly]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });
});
