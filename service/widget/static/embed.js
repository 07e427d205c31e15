// civicpoll embed page: votes without a reload, live results, and the iframe's height
// reported to the host page. The page works without this script; this only enhances it.
(function () {
  "use strict";
  var root = document.documentElement;
  var data = JSON.parse(document.getElementById("cp-data").textContent || "{}");
  var main = document.querySelector("main.cp");
  if (!main || !data.poll) return;
  var prefix = main.id.slice(0, -4); // "cp<wid>-" from "cp<wid>-main"
  var msgs = data.messages;
  var numbers = new Intl.NumberFormat(data.locale);
  var form = document.getElementById(prefix + "form");
  var out = document.getElementById(prefix + "out");
  var msg = document.getElementById(prefix + "msg");
  var stream = null;
  var shown = ""; // the counts on screen, so repeated frames change nothing

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (all, name) {
      return name in values ? values[name] : all;
    });
  }
  function votes(n) {
    return fill(msgs[n === 1 ? "votes_one" : "votes_other"], { n: numbers.format(n) });
  }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text; // text only: poll text stays inert
    return node;
  }
  function say(key, isError, text) {
    msg.textContent = text || msgs[key] || msgs.error;
    msg.classList.toggle("cp-error", !!isError);
  }

  // Same markup as the server's results section, so both paths look and read alike.
  function showResults(results) {
    shown = JSON.stringify(results.options.map(function (o) { return o.votes; }));
    var section = document.getElementById(prefix + "results");
    var created = !section;
    if (created) {
      section = el("section", "cp-results");
      section.id = prefix + "results";
      section.tabIndex = -1;
      section.setAttribute("aria-labelledby", prefix + "rh");
      var heading = el("h2", "", msgs.results);
      heading.id = prefix + "rh";
      section.appendChild(heading);
      section.appendChild(el("ul", "cp-bars"));
      section.appendChild(el("p", "cp-total"));
      out.appendChild(section);
    }
    var list = section.querySelector("ul");
    list.textContent = "";
    results.options.forEach(function (o) {
      var item = el("li");
      item.setAttribute("data-option", o.id);
      item.setAttribute("data-votes", o.votes);
      var bar = el("progress");
      bar.max = 100;
      bar.value = o.percent;
      bar.setAttribute("aria-hidden", "true");
      item.append(
        el("span", "cp-label", o.label), " ",
        el("span", "cp-pct", fill(msgs.percent, { n: o.percent })), " ",
        el("span", "cp-n", "(" + votes(o.votes) + ")"), bar);
      list.appendChild(item);
    });
    section.querySelector(".cp-total").textContent = fill(msgs.total, { votes: votes(results.total) });
    return section;
  }

  function watch() {
    if (stream || !window.EventSource) return;
    stream = new EventSource("/v1/polls/" + encodeURIComponent(data.poll) + "/results/stream");
    function update(event) {
      var results;
      try { results = JSON.parse(event.data); } catch (e) { return; } // keep the last shown
      if (!results.options || JSON.stringify(results.options.map(function (o) { return o.votes; })) === shown) return;
      // Results were announced once; live ticks must not make screen readers recite them.
      out.setAttribute("aria-live", "off");
      showResults(results);
    }
    stream.addEventListener("snapshot", update);
    stream.addEventListener("results", update);
    stream.addEventListener("closed", function () { stream.close(); });
    // A missing stream endpoint or a network hiccup leaves the last results shown.
    stream.onerror = function () { if (stream.readyState === 2) stream.close(); };
  }

  function note(key) {
    var p = el("p", "cp-note", msgs[key]);
    out.appendChild(p);
  }

  function finish(key, results) {
    if (form) {
      // Keep the question (the page's heading) as the server's result page does.
      [prefix + "q", prefix + "desc"].forEach(function (id) {
        var node = document.getElementById(id);
        if (node) form.parentNode.insertBefore(node, form);
      });
      form.remove();
      form = null;
    }
    say(key, false);
    if (results) {
      showResults(results).focus({ preventScroll: true });
      watch();
    } else {
      note(data.note);
      msg.focus({ preventScroll: true });
    }
  }

  function alreadyVoted() {
    fetch("/v1/polls/" + encodeURIComponent(data.poll) + "/results", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; })
      .then(function (results) { finish("already_voted", results); });
  }

  function submit(event) {
    event.preventDefault();
    var choices = Array.prototype.map.call(
      form.querySelectorAll("input[name=choice]:checked"), function (i) { return i.value; });
    if (choices.length < data.min || choices.length > data.max) {
      say("", true, data.rule);
      return;
    }
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    say("sending", false);
    var body = { choices: choices };
    ["token", "voter", "page"].forEach(function (name) {
      var field = form.elements.namedItem(name);
      if (field && field.value) body[name] = field.value;
    });
    function send() { return fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (payload) {
        if (r.status === 201) return finish("voted", payload.results);
        // --- fair limits (challenge.js): solve a 428's proof of work, vote again once;
        // a held vote (202) is recorded and says so.
        if (r.status === 202) return finish("held", payload.results);
        if (r.status === 428 && payload.challenge && window.civicpollChallenge && !body.altcha) {
          return window.civicpollChallenge(payload.challenge, function () { say("solving", false); })
            .then(function (solution) { body.altcha = solution; return send(); });
        }
        // --- end fair limits
        var code = (payload.error && payload.error.code) || (r.status >= 500 ? "unavailable" : "");
        // A reused form token also means this page already carried a vote.
        if (code === "already_voted") return alreadyVoted();
        var key = data.codes[code] || "error";
        say(key, true, key === "choice_rule" ? data.rule : "");
        button.disabled = false;
      });
    }); }
    send().catch(function () {
      say("unavailable", true);
      button.disabled = false;
    });
  }

  if (form) {
    // Our own check speaks the poll's language, not the browser's.
    form.noValidate = true;
    form.addEventListener("submit", submit);
  }

  // Times are printed in Vietnam time; show them in the reader's own zone.
  Array.prototype.forEach.call(document.querySelectorAll("time[datetime]"), function (t) {
    var when = new Date(t.getAttribute("datetime"));
    if (!isNaN(when)) {
      t.textContent = new Intl.DateTimeFormat(data.locale, { dateStyle: "long", timeStyle: "short" }).format(when);
    }
  });

  // After the plain form's redirect: bring the reader to the outcome.
  if (root.getAttribute("data-state")) {
    (document.getElementById(prefix + "results") || msg).focus({ preventScroll: true });
  }
  var rows = document.querySelectorAll("li[data-votes]");
  if (rows.length) {
    shown = JSON.stringify(Array.prototype.map.call(rows, function (li) { return Number(li.getAttribute("data-votes")); }));
  }
  if (document.querySelector("[data-live]")) watch();

  // Resize messages go only to the host page's exact origin (validated by the server).
  var origin = root.getAttribute("data-origin");
  if (origin && window.parent !== window && window.ResizeObserver) {
    var last = 0;
    new ResizeObserver(function () {
      var height = Math.ceil(main.getBoundingClientRect().height);
      if (height === last) return;
      last = height;
      window.parent.postMessage({ type: "civicpoll:height", height: height, title: document.title }, origin);
    }).observe(main);
  }
})();
