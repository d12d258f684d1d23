/* The practice page: one item at a time through the JSON API (docs/api.md), with the session token (app.js).
 *
 * Accessibility: the question is a fieldset with a legend (choices) or a labelled input; after "Check answer"
 * the feedback gets focus and is announced (aria-live); "Next question" moves focus to the new question.
 * Hints are revealed one at a time and announced. Progress is a labelled progressbar; mastery is a table.
 * No inline script or handlers (CSP-friendly). Texts come translated from the server (#practice-strings).
 */
(function () {
  "use strict";
  var root = document.getElementById("practice");
  if (!root || !window.adaptiveLti) return;
  var S = JSON.parse(document.getElementById("practice-strings").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var form = $("item-form"), body = $("item-body"), status = $("status"), feedback = $("feedback");
  var hintsList = $("hints"), hintBtn = $("hint-btn"), checkBtn = $("check-btn"), nextBtn = $("next-btn");
  var current = null, hintsShown = 0, pendingNext = null;
  // The learner's personalized reviews (GET /reviews) are listed above the question; choosing one practises it
  // (/next?review=<id>; answers follow their own review) until "Back to" the activity.
  var reviewId = null, activityTitle = $("practice-title").textContent;

  function fmt(s, vals) {
    return String(s).replace(/\{(\w+)\}/g, function (_, k) { return vals[k] === undefined ? "" : vals[k]; });
  }
  function renderMath(el) {
    if (window.AdaptiveItems && window.AdaptiveItems.renderMath) window.AdaptiveItems.renderMath(el);
  }
  function el(tag, attrs, html) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (html !== undefined) e.innerHTML = html;  // item HTML is sanitised by the server on import
    return e;
  }

  function showProgress(p, score) {
    if (!p) return;
    var pct = Math.floor(100 * (p.fraction || 0) + 1e-9);  // 99.6 % of the way is not 100 %
    var text = fmt(S.progress, { n: p.skills_mastered, total: p.skills_total });
    var bar = $("progress");
    bar.setAttribute("aria-valuenow", String(pct));
    bar.setAttribute("aria-valuetext", pct + "% · " + text);
    $("progress-fill").style.width = pct + "%";
    $("progress-text").textContent = text;
    $("progress-pct").textContent = pct + "%";  // the bar counts partial progress on unmastered skills too
    $("answered-text").textContent = "(" + fmt(window.adaptiveLti.plural(S.answered, p.items_answered), { n: p.items_answered }) + ")";
    // only a score that went to the LMS is announced as sent (none before the first answer)
    if (score) $("score-text").textContent = score.sent ? fmt(S.score, { score: Math.round(100 * score.given) }) : "";
  }

  function showMastery(rows) {
    if (!rows) return;
    var tbody = $("mastery-table").querySelector("tbody");
    tbody.textContent = "";
    rows.forEach(function (m) {
      var pct = Math.floor(100 * m.p + 1e-9);  // floor, as the server's texts: 79.8 % is not shown as a mastered 80 %
      var tr = document.createElement("tr");
      if (!m.in_goal) tr.className = "not-in-goal";
      var th = el("th", { scope: "row" });
      th.textContent = m.name;
      var td = document.createElement("td");
      var meter = el("span", { "class": "meter", "aria-hidden": "true" });
      var fill = el("span", { "class": "meter-fill" + (m.mastered ? " mastered" : "") });
      fill.style.width = pct + "%";
      meter.appendChild(fill);
      var num = el("span", { "class": "pct" });
      num.textContent = pct + "%";
      td.appendChild(meter);
      td.appendChild(num);
      var st = document.createElement("td");
      // a skill outside the assignment says so whatever its estimate (its row is also greyed out)
      st.textContent = !m.in_goal ? S.not_in_goal : (m.mastered ? S.mastered : S.in_progress);
      tr.appendChild(th); tr.appendChild(td); tr.appendChild(st);
      tbody.appendChild(tr);
    });
  }

  // A spoken form of a choice for its input's accessible name: maths rendered by KaTeX is read from MathML by
  // screen readers, but not every accessibility tree exposes it as a label's name.
  function plainText(html) {
    var div = document.createElement("div");
    div.innerHTML = html;
    var text = div.textContent || "";
    return text
      .replace(/\\d?frac\{([^{}]*)\}\{([^{}]*)\}/g, "$1/$2")
      .replace(/\\times/g, "×").replace(/\\div/g, "÷").replace(/\\cdot/g, "·")
      .replace(/\\(left|right|,|;|!|quad)/g, " ")
      .replace(/\\[()[\]]/g, "").replace(/\$\$/g, "")
      .replace(/\\([a-zA-Z]+)/g, "$1").replace(/[{}]/g, "")
      .replace(/\s+/g, " ").trim();
  }

  function renderItem(item) {
    current = item;
    hintsShown = 0;
    body.textContent = "";
    hintsList.textContent = "";
    feedback.hidden = true;
    feedback.textContent = "";
    nextBtn.hidden = true;
    var why = $("why");
    why.textContent = item.explanation && item.explanation.text ? S.why + " " + item.explanation.text : "";
    var stemId = "stem-" + item.id;
    if (item.choices) {
      var multi = item.type === "mc_multi";
      var fs = el("fieldset", { "class": "choices" });
      var legend = el("legend", { id: stemId, "class": "stem item-content", tabindex: "-1" }, item.stem_html);
      fs.appendChild(legend);
      var instr = el("p", { "class": "muted instr" });
      instr.textContent = multi ? S.choose_many : S.choose_one;
      fs.appendChild(instr);
      item.choices.forEach(function (c, i) {
        var id = "choice-" + item.id + "-" + i;
        var wrap = el("div", { "class": "choice" });
        var input = el("input", { type: multi ? "checkbox" : "radio", name: "answer", id: id, value: c.key,
          "aria-label": plainText(c.html) || c.key });
        var label = el("label", { "for": id, "class": "item-content" }, c.html);
        wrap.appendChild(input); wrap.appendChild(label);
        fs.appendChild(wrap);
      });
      body.appendChild(fs);
    } else {
      body.appendChild(el("div", { id: stemId, "class": "stem item-content", tabindex: "-1" }, item.stem_html));
      var lab = el("label", { "for": "answer-input", "class": "answer-label" });
      lab.textContent = S.your_answer;
      var inp = el("input", { id: "answer-input", name: "answer", type: "text", autocomplete: "off",
        inputmode: item.type === "numeric" ? "decimal" : "text", "aria-describedby": stemId });
      body.appendChild(lab);
      body.appendChild(inp);
    }
    hintBtn.hidden = !(item.hints && item.hints.length);
    hintBtn.disabled = false;
    hintBtn.textContent = S.hint;
    checkBtn.disabled = false;
    form.hidden = false;
    status.textContent = "";
    renderMath(form);
  }

  function answerValue() {
    if (current.choices) {
      var checked = Array.prototype.slice.call(form.querySelectorAll("input[name=answer]:checked"))
        .map(function (i) { return i.value; });
      return current.type === "mc_multi" ? checked : (checked[0] || "");
    }
    return $("answer-input").value;
  }

  function show(payload, focusItem) {
    showProgress(payload.progress, payload.score);
    showMastery(payload.mastery);
    if (payload.done || !payload.item) {
      form.hidden = true;
      nextBtn.hidden = true;
      status.textContent = "";
      var done = $("done");
      done.hidden = false;
      done.focus();
      return;
    }
    renderItem(payload.item);
    if (payload.resumed) status.textContent = S.resumed;
    if (focusItem) {
      var stem = form.querySelector(".stem");
      if (stem) stem.focus();
    }
  }

  function fail(err) {
    checkBtn.disabled = false;
    status.textContent = fmt(S.error, { message: err.message });
  }

  function load(focusItem, message) {
    status.textContent = S.loading;
    var url = root.getAttribute("data-next") + (reviewId ? "?review=" + encodeURIComponent(reviewId) : "");
    window.adaptiveLti.fetch(url).then(function (p) {
      show(p, focusItem);
      if (message) status.textContent = message;  // announced (the status is a live region)
    }, fail);
  }

  function switchTo(review) {
    reviewId = review ? review.id : null;
    $("practice-title").textContent = review ? review.title : activityTitle;
    $("done").hidden = true;
    form.hidden = true;  // until the review's (or the activity's) question has loaded
    feedback.hidden = true;
    nextBtn.hidden = true;
    hintsList.textContent = "";
    pendingNext = null;
    loadReviews();
    load(true, fmt(S.review_now, { title: review ? review.title : activityTitle }));
  }

  function loadReviews() {
    window.adaptiveLti.fetch(root.getAttribute("data-reviews")).then(function (res) {
      var reviews = res.reviews || [];
      var list = $("reviews-list");
      list.textContent = "";
      $("reviews").hidden = reviews.length === 0;
      if (reviewId !== null) {
        var back = el("button", { type: "button", "class": "secondary" });
        back.textContent = fmt(S.review_back, { title: activityTitle });
        back.addEventListener("click", function () { switchTo(null); });
        var li = el("li", {});
        li.appendChild(back);
        list.appendChild(li);
      }
      reviews.forEach(function (r) {
        var item = el("li", {});
        if (r.id === reviewId) {
          item.setAttribute("aria-current", "true");
          item.textContent = r.title;
        } else {
          var b = el("button", { type: "button", "class": "secondary" });
          b.textContent = fmt(r.completed ? S.review_done : S.review_open, { title: r.title });
          b.addEventListener("click", function () { switchTo(r); });
          item.appendChild(b);
        }
        list.appendChild(item);
      });
    }, function () { $("reviews").hidden = true; });  // instructors (and failures) have no list
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!current || checkBtn.disabled) return;
    checkBtn.disabled = true;
    status.textContent = S.checking;
    window.adaptiveLti.fetch(root.getAttribute("data-answer"), {
      method: "POST", json: { item_id: current.id, answer: answerValue(), hints_used: hintsShown }
    }).then(function (res) {
      status.textContent = "";
      feedback.textContent = "";
      feedback.className = "feedback item-content " + (res.correct ? "is-correct" : "is-incorrect");
      var head = el("p", { "class": "verdict" });
      head.textContent = res.correct ? S.correct : S.incorrect;
      feedback.appendChild(head);
      var fb = res.feedback || {};
      if (fb.specific_html) feedback.appendChild(el("div", {}, fb.specific_html));
      if (fb.html) feedback.appendChild(el("div", {}, fb.html));
      if (!res.correct && fb.correct_answer !== null && fb.correct_answer !== undefined) {
        var ans = Array.isArray(fb.correct_answer) ? fb.correct_answer.join(", ") : String(fb.correct_answer);
        var p = el("p", {});
        p.textContent = fmt(S.correct_answer, { answer: ans });
        feedback.appendChild(p);
      }
      feedback.hidden = false;
      Array.prototype.forEach.call(form.querySelectorAll("input"), function (i) { i.disabled = true; });
      hintBtn.hidden = true;
      checkBtn.disabled = true;
      showProgress(res.progress, res.score);
      showMastery(res.mastery);
      pendingNext = res.next || null;
      nextBtn.hidden = false;
      renderMath(feedback);
      feedback.focus();
    }, function (err) {
      if (err.status === 422) {  // not an answer (empty, not a number): nothing was recorded
        checkBtn.disabled = false;
        status.textContent = err.message;
        var first = form.querySelector("input:not([disabled])");
        if (first) first.focus();
        return;
      }
      fail(err);
    });
  });

  hintBtn.addEventListener("click", function () {
    if (!current || !current.hints || hintsShown >= current.hints.length) return;
    var li = el("li", {}, "");
    var label = el("strong", {});
    label.textContent = fmt(S.hint_n, { n: hintsShown + 1 }) + ": ";
    li.appendChild(label);
    li.appendChild(el("span", {}, current.hints[hintsShown]));
    hintsList.appendChild(li);
    hintsShown += 1;
    renderMath(li);
    if (hintsShown >= current.hints.length) {
      hintBtn.disabled = true;
      hintBtn.textContent = S.no_more_hints;
    }
  });

  nextBtn.addEventListener("click", function () {
    if (pendingNext) {
      var p = pendingNext;
      pendingNext = null;
      show(p, true);
    } else {
      load(true);
    }
  });

  load(false);
  loadReviews();
})();
