// Submit the hidden form at once (LTI deep linking response, simulator launches).
document.getElementById("autopost").submit();
