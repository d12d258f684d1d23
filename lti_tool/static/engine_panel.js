/* Instructor engine panel: one "Retrain now" button per item bank of the course (Bearer token via app.js); the
   server enqueues training only for banks the course uses. */
(function () {
  "use strict";
  function init() {
    var panel = document.getElementById("engine-panel");
    if (!panel || !window.adaptiveLti) return;
    var queued = document.getElementById("engine-queued");
    Array.prototype.forEach.call(panel.querySelectorAll("button.engine-retrain"), function (button) {
      var status = button.parentNode.querySelector(".engine-status");
      button.addEventListener("click", function () {
        button.disabled = true;
        status.textContent = "…";
        window.adaptiveLti.fetch(panel.getAttribute("data-retrain-url"), {
          method: "POST", json: { bank_id: Number(button.getAttribute("data-bank-id")) }
        }).then(function () {
          status.textContent = queued ? queued.textContent : "";
        }, function (err) { status.textContent = err.message; button.disabled = false; });
      });
    });
  }

  // This script comes before app.js in the page: bind once the document, and so app.js, has loaded.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
