/* Instructor engine panel: the "Retrain now" button (Bearer token via app.js). */
(function () {
  "use strict";
  var panel = document.getElementById("engine-panel");
  var button = document.getElementById("engine-retrain");
  if (!panel || !button || !window.adaptiveLti) return;
  var status = document.getElementById("engine-status");
  button.addEventListener("click", function () {
    button.disabled = true;
    status.textContent = "…";
    window.adaptiveLti.fetch(panel.getAttribute("data-retrain-url"), { method: "POST", json: {} })
      .then(function () {
        status.textContent = status.getAttribute("data-queued");
      }, function (err) { status.textContent = err.message; button.disabled = false; });
  });
})();
