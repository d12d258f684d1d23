// LTI OIDC login with client-side storage (lti-cs-oidc): store state and nonce in the platform's frame
// (lti.put_data), then continue to the platform's authorization endpoint. No cookie is needed.
(function () {
  "use strict";
  var login = JSON.parse(document.getElementById("lti-login").textContent);
  var s = login.storage;
  Promise.all([
    window.adaptiveLti.storageCall(s, "lti.put_data", { key: "state_" + s.state, value: s.state }),
    window.adaptiveLti.storageCall(s, "lti.put_data", { key: "nonce_" + s.nonce, value: s.nonce })
  ]).then(function () {
    window.location.href = login.redirect;
  }).catch(function (e) {
    var status = document.getElementById("status");
    status.textContent = (status.getAttribute("data-failed") ||
      "Your LMS did not store this login ({reason}). Launch the tool again, or open it in a new window.")
      .replace("{reason}", e.message);
  });
})();
