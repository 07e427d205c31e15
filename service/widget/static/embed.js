// civicpoll embed page: votes and comments without a reload, live results, and the
// iframe's height reported to the host page. The page works without this script; this
// only enhances it. The page is shared by every reader (a CDN may keep it), so it holds
// no form token: the script fetches a fresh one when the reader starts to vote or comment.
(function () {
  "use strict";
  var root = document.documentElement;
  var data = JSON.parse(document.getElementById("cp-data").textContent || "{}");
  var main = document.querySelector("main.cp");
  if (!main) return;
  // Resize messages go only to the host page's exact origin (validated by the server);
  // first, so that a notice page (no poll to act on) also fits its frame.
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
  if (!data.poll) return;
  var prefix = main.id.slice(0, -4); // "cp<wid>-" from "cp<wid>-main"
  var msgs = data.messages;
  var api = "/v1/polls/" + encodeURIComponent(data.poll);
  var numbers = new Intl.NumberFormat(data.locale);
  var decimals = new Intl.NumberFormat(data.locale, { maximumFractionDigits: 1 });
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

  // A fresh single-use token per form: taken from the page when it is one reader's own
  // (it has one), else fetched once the reader starts; a refused attempt drops it.
  function Tokens(owner) {
    var field = owner.querySelector("input[name=token]");
    var pending = null;
    this.get = function () {
      if (field && field.value) {
        var given = field.value;
        field.remove(); // single-use (and out of reach of form.reset()): a retry fetches another
        field = null;
        return Promise.resolve(given);
      }
      if (!pending) {
        pending = fetch(api + "/token", { credentials: "same-origin", cache: "no-store" })
          .then(function (r) { return r.ok ? r.json() : {}; })
          .then(function (j) { return j.token || ""; })
          .catch(function () { return ""; });
      }
      return pending;
    };
    this.spend = function () { pending = null; };
    var self = this;
    ["focusin", "pointerdown"].forEach(function (type) {
      owner.addEventListener(type, function warm() {
        owner.removeEventListener(type, warm);
        if (!(field && field.value)) self.get();
      });
    });
  }

  function statRows(results) {
    if (results.average === undefined) return [];
    var dash = "–";
    var rows = [
      ["count", msgs.answers, numbers.format(results.count)],
      ["average", msgs.average, results.average === null ? dash : decimals.format(results.average)],
      ["median", msgs.median, results.median === null ? dash : decimals.format(results.median)]
    ];
    if (results.nps) {
      rows.push(["nps", msgs.nps_score, results.nps.score === null ? dash : String(results.nps.score)]);
      rows.push(["promoters", msgs.nps_promoters, numbers.format(results.nps.promoters)]);
      rows.push(["passives", msgs.nps_passives, numbers.format(results.nps.passives)]);
      rows.push(["detractors", msgs.nps_detractors, numbers.format(results.nps.detractors)]);
    }
    return rows;
  }

  function pointLabel(option, index, results) {
    var point = results.distribution && results.distribution[index];
    if (!point) return option.label;
    if (data.stars) {
      return fill(msgs[point.value === 1 ? "stars_one" : "stars_other"], { n: numbers.format(point.value) });
    }
    return point.label;
  }

  // Same markup as the server's results section, so both paths look and read alike.
  // What a frame shows: the options' votes and the held number (either may change alone).
  function counted(results) {
    return JSON.stringify([results.held || 0].concat(results.options.map(function (o) { return o.votes; })));
  }
  function showResults(results) {
    shown = counted(results);
    var section = document.getElementById(prefix + "results");
    if (!section) {
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
    var labels = {};
    Array.prototype.forEach.call(list.querySelectorAll("li[data-option]"), function (li) {
      labels[li.getAttribute("data-option")] = li.querySelector(".cp-label").textContent;
    });
    list.textContent = "";
    results.options.forEach(function (o, i) {
      var item = el("li");
      item.setAttribute("data-option", o.id);
      item.setAttribute("data-votes", o.votes);
      var bar = el("progress");
      bar.max = 100;
      bar.value = o.percent;
      bar.setAttribute("aria-hidden", "true");
      item.append(
        el("span", "cp-label", labels[o.id] || pointLabel(o, i, results)), " ",
        el("span", "cp-pct", fill(msgs.percent, { n: o.percent })), " ",
        el("span", "cp-n", "(" + votes(o.votes) + ")"), bar);
      list.appendChild(item);
    });
    var rows = statRows(results);
    var stats = section.querySelector(".cp-stats");
    if (rows.length) {
      if (!stats) {
        stats = el("dl", "cp-stats");
        section.insertBefore(stats, section.querySelector(".cp-total"));
      }
      stats.textContent = "";
      rows.forEach(function (row) {
        var pair = el("div");
        pair.setAttribute("data-stat", row[0]);
        pair.append(el("dt", "", row[1]), el("dd", "", row[2]));
        stats.appendChild(pair);
      });
    }
    section.querySelector(".cp-total").textContent = fill(msgs.total, { votes: votes(results.total) });
    // Votes held for review, in words as the server's page says it (none: no line).
    var held = section.querySelector(".cp-held");
    if (results.held > 0) {
      if (!held) section.appendChild(held = el("p", "cp-held"));
      held.textContent = fill(msgs[results.held === 1 ? "held_votes_one" : "held_votes_other"],
        { n: numbers.format(results.held) });
    } else if (held) {
      held.remove();
    }
    return section;
  }

  function watch() {
    if (stream || !window.EventSource) return;
    stream = new EventSource(api + "/results/stream");
    function update(event) {
      var results;
      try { results = JSON.parse(event.data); } catch (e) { return; } // keep the last shown
      if (!results.options || counted(results) === shown) return;
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
    out.appendChild(el("p", "cp-note", msgs[key]));
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
    if (data.comments_href && !document.getElementById(prefix + "comments")) {
      var link = el("a", "cp-link", msgs.comments_link);
      link.href = data.comments_href;
      var actions = el("p", "cp-actions");
      actions.appendChild(link);
      out.parentNode.insertBefore(actions, out.nextSibling);
      bringComments(link);
    }
    if (results) {
      showResults(results).focus({ preventScroll: true });
      watch();
    } else {
      note(data.note);
      msg.focus({ preventScroll: true });
    }
  }

  function alreadyVoted() {
    fetch(api + "/results", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; })
      .then(function (results) { finish("already_voted", results); });
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (payload) {
        return { status: r.status, payload: payload };
      });
    });
  }

  function answer() {
    if (data.rating) {
      var point = form.querySelector("input[name=rating]:checked");
      return point ? { rating: Number(point.value) } : null;
    }
    var picked = form.querySelectorAll("input[name=choice]:checked");
    var choices = Array.prototype.map.call(picked, function (i) { return i.value; });
    if (choices.length < data.min || choices.length > data.max) return null;
    var body = { choices: choices };
    var other = form.querySelector("input[data-other]");
    var text = form.querySelector("textarea[name=other_text]");
    // Own words go only with the option for them; typed then unchosen, they stay here.
    if (other && other.checked && text && text.value.trim()) body.other_text = text.value;
    return body;
  }

  function submit(event) {
    event.preventDefault();
    var body = answer();
    if (!body) {
      say("", true, data.rule);
      return;
    }
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    say("sending", false);
    ["voter", "page"].forEach(function (name) {
      var field = form.elements.namedItem(name);
      if (field && field.value) body[name] = field.value;
    });
    voteTokens.get().then(function (token) {
      if (token) body.token = token;
      return post(form.action, body);
    }).then(function (r) {
      // --- fair limits (challenge.js): a 428 carries a proof of work, solved in a worker;
      // the vote goes once more with the solution. A held vote (202) was recorded.
      if (r.status !== 428 || !r.payload.challenge || !window.civicpollChallenge) return r;
      return window.civicpollChallenge(r.payload.challenge, function () { say("solving", false); })
        .then(function (solution) { body.altcha = solution; return post(form.action, body); });
    }).then(function (r) {
      if (r.status === 202) { voteTokens.spend(); return finish("held", r.payload.results); }
      // --- end fair limits
      voteTokens.spend();
      if (r.status === 201) return finish("voted", r.payload.results);
      var code = (r.payload.error && r.payload.error.code) || (r.status >= 500 ? "unavailable" : "");
      // A reused form token also means this page already carried a vote.
      if (code === "already_voted") return alreadyVoted();
      var key = data.codes[code] || "error";
      say(key, true, key === "choice_rule" ? data.rule : "");
      button.disabled = false;
    }).catch(function () {
      voteTokens.spend();
      say("unavailable", true);
      button.disabled = false;
    });
  }

  var voteTokens = null;
  if (form) {
    voteTokens = new Tokens(form);
    // Our own check speaks the poll's language, not the browser's.
    form.noValidate = true;
    form.addEventListener("submit", submit);
  }

  // ---- comments
  function enhanceComments(comments) {
    var cform = document.getElementById(prefix + "cform");
    var cmsg = document.getElementById(prefix + "cmsg");
    var clist = document.getElementById(prefix + "clist");
    var more = document.getElementById(prefix + "cmore");
    var times = new Intl.DateTimeFormat(data.locale, { dateStyle: "medium", timeStyle: "short" });

    var tell = function (key, isError) {
      cmsg.textContent = msgs[key] || msgs.comment_error;
      cmsg.classList.toggle("cp-error", !!isError);
    };
    var reportTokens = new Tokens(clist); // the list holds no token field of its own
    var reportButton = function (item) {
      var id = item.getAttribute("data-comment");
      var button = el("button", "cp-report", msgs.report);
      button.type = "button";
      button.addEventListener("click", function () {
        var reasons = el("fieldset", "cp-reasons");
        reasons.appendChild(el("legend", "", msgs.report_reason));
        ["spam", "offensive", "off_topic"].forEach(function (reason) {
          var choice = el("button", "", msgs["report_" + reason]);
          choice.type = "button";
          choice.addEventListener("click", function () {
            // A form token with the report: the reader of a browser that keeps no cookie.
            reportTokens.get().then(function (token) {
              var report = { reason: reason };
              if (token) report.token = token;
              return post(api + "/comments/" + encodeURIComponent(id) + "/reports", report);
            })
              .catch(function () { return { status: 0 }; })
              .then(function (r) {
                var done = el("p", "cp-note", r.status && r.status < 300 ? msgs.report_thanks : msgs.error);
                done.setAttribute("role", "status");
                reasons.replaceWith(done);
              });
          });
          reasons.appendChild(choice);
        });
        var cancel = el("button", "", msgs.report_cancel);
        cancel.type = "button";
        cancel.addEventListener("click", function () { reasons.replaceWith(button); button.focus(); });
        reasons.appendChild(cancel);
        button.replaceWith(reasons);
        reasons.querySelector("button").focus();
      });
      item.appendChild(button);
    };
    var commentItem = function (c) {
      var item = el("li", "cp-c");
      item.setAttribute("data-comment", c.id);
      var meta = el("p", "cp-cmeta");
      var when = el("time", "", "");
      var moment = new Date(c.created_at);
      when.setAttribute("datetime", c.created_at);
      when.textContent = isNaN(moment) ? "" : times.format(moment);
      meta.append(el("span", "cp-cname", c.name || msgs.anonymous), " · ", when);
      item.append(meta, el("p", "cp-cbody", c.body));
      reportButton(item);
      return item;
    };
    Array.prototype.forEach.call(clist.querySelectorAll("li[data-comment]"), reportButton);
    // After the plain comment form's redirect: bring the reader to what happened.
    if (cmsg.textContent) cmsg.focus({ preventScroll: false });

    if (cform) {
      var commentTokens = new Tokens(cform);
      cform.noValidate = true;
      cform.addEventListener("submit", function (event) {
        event.preventDefault();
        var text = cform.elements.namedItem("body");
        if (!text.value.trim()) { tell("comment_empty", true); text.focus(); return; }
        var button = cform.querySelector("button[type=submit]");
        button.disabled = true;
        var body = { body: text.value };
        ["name", "voter", "page"].forEach(function (name) {
          var field = cform.elements.namedItem(name);
          if (field && field.value.trim()) body[name] = field.value;
        });
        commentTokens.get().then(function (token) {
          if (token) body.token = token;
          return post(api + "/comments", body);
        }).then(function (r) {
          commentTokens.spend();
          button.disabled = false;
          if (r.status === 201 || r.status === 202) {
            var published = r.status === 201 && r.payload.comment;
            tell(published ? "comment_published" : "comment_pending", false);
            if (published) {
              clist.insertBefore(commentItem(r.payload.comment), clist.firstChild);
              var none = document.getElementById(prefix + "cnone");
              if (none) none.remove();
            }
            cform.reset();
            return;
          }
          var code = (r.payload.error && r.payload.error.code) || (r.status >= 500 ? "unavailable" : "");
          tell(data.comment_codes[code] || "comment_error", true);
        }).catch(function () {
          commentTokens.spend();
          button.disabled = false;
          tell("unavailable", true);
        });
      });
    }

    if (more) {
      more.addEventListener("click", function (event) {
        event.preventDefault();
        var cursor = more.getAttribute("data-cursor");
        fetch(api + "/comments?limit=10&cursor=" + encodeURIComponent(cursor), { credentials: "same-origin" })
          .then(function (r) { if (!r.ok) throw r; return r.json(); })
          .then(function (page) {
            var first = null;
            page.items.forEach(function (c) {
              var item = commentItem(c);
              first = first || item;
              clist.appendChild(item);
            });
            if (page.next_cursor) more.setAttribute("data-cursor", page.next_cursor);
            else more.parentNode.remove();
            if (first) { first.tabIndex = -1; first.focus({ preventScroll: false }); }
          })
          .catch(function () { window.location.href = more.href; }); // the no-script way
      });
    }
  }
  var comments = document.getElementById(prefix + "comments");
  if (comments) enhanceComments(comments);

  // After a scripted vote: the comments section the plain form's result page shows
  // (form, premoderation hint, the first page of comments), taken from that very page
  // (shared, cacheable, no token: the form fetches one when the reader starts). Inert
  // until parsed as our own markup; a failure leaves the link to it.
  function bringComments(link) {
    fetch(data.comments_href, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw r; return r.text(); })
      .then(function (html) {
        var found = new DOMParser().parseFromString(html, "text/html").getElementById(prefix + "comments");
        if (!found || document.getElementById(prefix + "comments")) return;
        var section = document.importNode(found, true);
        link.parentNode.replaceWith(section);
        enhanceComments(section);
      })
      .catch(function () {});
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
})();
