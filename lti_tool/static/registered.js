// LTI Dynamic Registration: tell the platform we are done so it closes the registration window or iframe.
(function () {
  var msg = { subject: "org.imsglobal.lti.close" };
  if (window.opener) window.opener.postMessage(msg, "*");
  window.parent.postMessage({ subject: "org.imsglobal.lti.close" }, "*");
})();
