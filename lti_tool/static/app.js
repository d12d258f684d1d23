// adaptive-lti page helpers. No third-party cookies needed: the launch page carries a short-lived session token
// in <meta name="adaptive-lti-session">, and adaptiveLti.fetch sends it as "Authorization: Bearer <token>".
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="adaptive-lti-session"]');
  var token = meta ? meta.getAttribute("content") : null;

  function ltiFetch(url, opts) {
    opts = Object.assign({}, opts || {});
    var headers = new Headers(opts.headers || {});
    if (token) headers.set("Authorization", "Bearer " + token);
    headers.set("Accept", "application/json");
    if (opts.json !== undefined) {
      headers.set("Content-Type", "application/json");
      opts.body = JSON.stringify(opts.json);
      delete opts.json;
    }
    opts.headers = headers;
    opts.credentials = "omit";
    return fetch(url, opts).then(function (resp) {
      var type = resp.headers.get("Content-Type") || "";
      var body = type.indexOf("application/json") >= 0 ? resp.json() : resp.text();
      return body.then(function (data) {
        if (!resp.ok) {
          var err = new Error((data && data.error) || ("HTTP " + resp.status));
          err.status = resp.status;
          err.data = data;
          throw err;
        }
        return data;
      });
    });
  }

  // LTI client-side storage (lti-cs-oidc / lti-pm-s): the login stored state and nonce in the platform's frame;
  // the launch page shows its content only after the platform hands the same values back.
  function storageCall(check, subject, payload) {
    return new Promise(function (resolve, reject) {
      // In an iframe the platform is the parent; in a new window (no parent) it is the opener.
      var parent = window.parent !== window ? window.parent : window.opener;
      var target = null;
      try { target = !parent ? null : check.target === "_parent" ? parent : parent.frames[check.target]; }
      catch (e) { target = null; }
      if (!target) { reject(new Error("no storage frame " + check.target)); return; }
      var id = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Math.random()).slice(2);
      var timer = setTimeout(function () { reject(new Error("the LMS did not answer")); }, 2000);
      window.addEventListener("message", function handler(ev) {
        var d = ev.data;
        if (!d || typeof d !== "object" || d.message_id !== id || d.subject !== subject + ".response") return;
        if (check.origin !== "*" && ev.origin !== check.origin) return;
        window.removeEventListener("message", handler);
        clearTimeout(timer);
        if (d.error) reject(new Error(d.error.message || d.error.code || "storage error")); else resolve(d);
      });
      target.postMessage(Object.assign({ subject: subject, message_id: id }, payload), check.origin);
    });
  }

  function checkStorage() {
    var el = document.getElementById("lti-storage-check");
    if (!el) return;
    var check = JSON.parse(el.textContent);
    var status = document.getElementById("lti-storage-status");
    Promise.all([
      storageCall(check, "lti.get_data", { key: "state_" + check.state }),
      storageCall(check, "lti.get_data", { key: "nonce_" + check.nonce })
    ]).then(function (answers) {
      if (answers[0].value !== check.state || answers[1].value !== check.nonce) throw new Error("mismatch");
      document.getElementById("content").hidden = false;
      if (status) status.remove();
    }).catch(function (e) {
      token = null;
      if (status) {
        status.textContent = (status.getAttribute("data-failed") ||
          "This launch could not be confirmed with your LMS ({reason}). Launch the tool again from your course.")
          .replace("{reason}", e.message);
      }
    });
  }

  // A count's text in the page's language: ``forms`` maps CLDR plural categories ("one", "other", ...) to texts,
  // the server's ngettext forms; a language with one form (Chinese) sends only "other".
  function plural(forms, n) {
    if (typeof forms === "string") return forms;
    var category = "other";
    try { category = new Intl.PluralRules(document.documentElement.lang || undefined).select(n); } catch (e) { /* old browser */ }
    return forms[category] || forms.other;
  }

  window.adaptiveLti = { fetch: ltiFetch, token: function () { return token; }, storageCall: storageCall,
                         plural: plural };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", checkStorage);
  else checkStorage();
})();
