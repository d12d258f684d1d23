/* Instructor mastery panel: the "generate personalized review assignment" button (Bearer token via app.js). */
(function () {
  "use strict";

  function init() {
    var panel = document.getElementById("mastery-panel");
    var form = document.getElementById("review-form");
    if (!panel || !form || !window.adaptiveLti) return;
    var status = document.getElementById("review-status");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var perStudent = parseInt(document.getElementById("review-skills").value, 10) || 3;
      status.textContent = "…";
      window.adaptiveLti.fetch(panel.getAttribute("data-reviews-url"),
                               { method: "POST", json: { skills_per_student: perStudent } })
        .then(function (res) {
          var n = res.review.n_students;
          var students = window.adaptiveLti.plural(JSON.parse(panel.getAttribute("data-students")), n);
          status.textContent = res.review.title + " (" + students.replace("{n}", n) + ")";
        }, function (err) { status.textContent = err.message; });
    });
  }

  // This script comes before app.js in the page: bind once the document, and so app.js, has loaded.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
