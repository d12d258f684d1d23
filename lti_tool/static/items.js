/* Item content helpers: renders TeX maths with the bundled KaTeX (see templates/items/_katex.html).
 *
 * - On load, renders every element with class "item-content" or attribute data-math.
 * - window.AdaptiveItems.renderMath(element) renders one element (e.g. after the next item arrives).
 * - A bubbling "adaptive:content" event dispatched from an element re-renders it.
 * Delimiters: \( \) inline, \[ \] and $$ $$ display. Single $ is not a delimiter (prices stay prices).
 * Maths that fails to parse is shown as its source text, never as an error box.
 */
(function () {
  "use strict";

  var DELIMITERS = [
    { left: "$$", right: "$$", display: true },
    { left: "\\[", right: "\\]", display: true },
    { left: "\\(", right: "\\)", display: false }
  ];
  var SELECTOR = ".item-content, [data-math]";

  function renderMath(element) {
    if (!element || typeof window.renderMathInElement !== "function") {
      return false;
    }
    window.renderMathInElement(element, {
      delimiters: DELIMITERS,
      throwOnError: false,
      strict: "ignore",
      trust: false,
      output: "htmlAndMathml", // MathML for screen readers, HTML for the eye
      ignoredTags: ["script", "noscript", "style", "textarea", "pre", "code", "option", "input"]
    });
    return true;
  }

  function renderAll(root) {
    var scope = root || document;
    var nodes = scope.querySelectorAll(SELECTOR);
    for (var i = 0; i < nodes.length; i++) {
      renderMath(nodes[i]);
    }
    if (scope !== document && scope.matches && scope.matches(SELECTOR)) {
      renderMath(scope);
    }
  }

  window.AdaptiveItems = { renderMath: renderMath, renderAll: renderAll };

  document.addEventListener("adaptive:content", function (event) {
    renderMath(event.target);
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { renderAll(document); });
  } else {
    renderAll(document);
  }
})();
