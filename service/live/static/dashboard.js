// civicpoll live dashboard: one EventSource for the live bars, a fetch every 30 s for the
// per-minute chart, referring articles and integrity figures. No framework, no build step.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("dash-config").textContent);
  var t = cfg.t;
  var locale = cfg.lang === "vi" ? "vi-VN" : "en-GB";
  var SVG = "http://www.w3.org/2000/svg";
  var status = document.querySelector("[data-status]");

  // The same choice as service/core/i18n.py: `<key>_one` or `<key>_other` by the CLDR rule.
  var rules = new Intl.PluralRules(locale);

  function num(n) { return Number(n).toLocaleString(locale); }
  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (m, k) { return k in values ? values[k] : m; });
  }
  function plural(key, n) {
    return fill(t[key + "_" + rules.select(n)] || t[key + "_other"], { n: num(n) });
  }
  function card(pollId) { return document.querySelector('[data-poll="' + pollId + '"]'); }
  function setStatus(text, live) {
    if (!status) { return; }
    status.textContent = text;
    status.classList.toggle("is-live", live);
  }

  // ------------------------------------------------------------ live bars
  function showResults(r) {
    var c = card(r.poll_id);
    if (!c) { return; }
    c.querySelector("[data-total]").textContent = num(r.total);
    // Votes held for review, in words as the server's page says it (none: no line).
    var held = c.querySelector("[data-held]");
    if (r.held > 0) {
      if (!held) {
        held = document.createElement("p");
        held.className = "dash-held";
        held.setAttribute("data-held", "");
        c.querySelector(".dash-total").after(held);
      }
      held.textContent = plural("held_votes", r.held);
    } else if (held) {
      held.remove();
    }
    r.options.forEach(function (o) {
      var row = c.querySelector('[data-option="' + o.id + '"]');
      if (!row) { return; }
      row.querySelector("[data-percent]").textContent = o.percent + "%";
      row.querySelector("[data-votes]").textContent = plural("votes", o.votes);
      row.querySelector(".dash-fill").style.width = o.percent + "%";
    });
    // A scale's figures (the stream sends the results API's shape).
    var decimal = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
    var values = { count: r.count, average: r.average, median: r.median };
    if (r.nps) {
      values.nps = r.nps.score;
      values.promoters = r.nps.promoters;
      values.passives = r.nps.passives;
      values.detractors = r.nps.detractors;
    }
    Object.keys(values).forEach(function (k) {
      var dd = c.querySelector('[data-stat="' + k + '"]');
      if (!dd || values[k] === undefined) { return; }
      dd.textContent = values[k] === null ? "–" : decimal.format(values[k]);
    });
  }
  // Widths come from data attributes: the page's CSP forbids inline style attributes.
  document.querySelectorAll(".dash-fill[data-pct]").forEach(function (el) {
    el.style.width = el.getAttribute("data-pct") + "%";
  });

  function connect(url) {
    var open = {};
    document.querySelectorAll("[data-poll]").forEach(function (c) {
      if (!c.classList.contains("is-closed")) { open[c.getAttribute("data-poll")] = true; }
    });
    var es = new EventSource(url);
    function onResults(e) { showResults(JSON.parse(e.data)); }
    es.addEventListener("snapshot", onResults);
    es.addEventListener("results", onResults);
    es.addEventListener("closed", function (e) {
      var d = JSON.parse(e.data);
      var c = card(d.poll_id);
      if (c) {
        c.classList.add("is-closed");
        c.querySelector("[data-closed-badge]").hidden = false;
      }
      delete open[d.poll_id];
      if (Object.keys(open).length === 0) { es.close(); setStatus(t.closed, false); }
    });
    es.onopen = function () { setStatus(t.live, true); };
    es.onerror = function () {
      if (es.readyState !== EventSource.CLOSED) { setStatus(t.reconnecting, false); }
    };
  }

  // ------------------------------------------------------------ history
  function drawChart(svg, data, hours) {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var width = 600, height = 160, top = 14;
    var first = data.first_minute, span = data.now_minute - first + 1;
    // Wide periods are drawn in 5- or 10-minute buckets so bars stay visible on a phone.
    var step = hours > 24 ? 10 : hours > 6 ? 5 : 1;
    var buckets = new Array(Math.ceil(span / step)).fill(0);
    data.minutes.forEach(function (m) {
      var i = Math.floor((m[0] - first) / step);
      if (i >= 0 && i < buckets.length) { buckets[i] += m[1]; }
    });
    var max = Math.max.apply(null, buckets.concat([1]));
    var w = width / buckets.length, d = "";
    buckets.forEach(function (n, i) {
      if (!n) { return; }
      var h = (n / max) * (height - top);
      d += "M" + (i * w).toFixed(2) + " " + height + "v" + (-h).toFixed(2) +
        "h" + Math.max(w * 0.8, 0.6).toFixed(2) + "V" + height + "z";
    });
    var path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    path.setAttribute("class", "dash-chart-bars");
    svg.appendChild(path);
    var label = document.createElementNS(SVG, "text");
    label.setAttribute("x", "4");
    label.setAttribute("y", "11");
    label.setAttribute("class", "dash-chart-max");
    label.textContent = fill(step > 1 ? t.chart_max_step : t.chart_max, { n: num(max), step: step });
    svg.appendChild(label);
  }

  function rates(data) {
    var lastMinute = 0, lastHour = 0;
    data.minutes.forEach(function (m) {
      if (m[0] === data.now_minute - 1) { lastMinute = m[1]; }
      if (m[0] > data.now_minute - 60) { lastHour += m[1]; }
    });
    return fill(t.last_minute, { n: num(lastMinute) }) + " · " +
      fill(t.last_hour, { n: num(lastHour) });
  }

  function showArticles(list, articles) {
    list.textContent = "";
    if (!articles.length) {
      var empty = document.createElement("li");
      empty.className = "dash-muted";
      empty.textContent = t.no_articles;
      list.appendChild(empty);
    }
    articles.forEach(function (a) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      link.href = a.url;
      link.rel = "noreferrer noopener";
      link.target = "_blank";
      link.textContent = a.url.replace(/^https?:\/\//, "");
      var n = document.createElement("span");
      n.className = "dash-article-n";
      n.textContent = num(a.votes);
      li.appendChild(link);
      li.appendChild(n);
      list.appendChild(li);
    });
  }

  function showIntegrity(dl, figures) {
    dl.textContent = "";
    Object.keys(figures).forEach(function (k) {
      var dt = document.createElement("dt");
      dt.textContent = t[k === "closed" ? "closed_attempts" : k] || k;
      var dd = document.createElement("dd");
      dd.textContent = num(figures[k]);
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
  }

  function refresh(c) {
    var select = c.querySelector("[data-hours]");
    var hours = Number(select.value);
    var url = c.getAttribute("data-data");
    url += (url.indexOf("?") < 0 ? "?" : "&") + "hours=" + hours;
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    }).then(function (data) {
      drawChart(c.querySelector("[data-chart]"), data, hours);
      c.querySelector("[data-rates]").textContent = rates(data);
      showArticles(c.querySelector("[data-articles]"), data.articles);
      var dl = c.querySelector("[data-integrity]");
      if (dl && data.integrity) { showIntegrity(dl, data.integrity); }
      var waiting = c.querySelector("[data-moderation]");
      if (waiting && data.moderation !== null && data.moderation !== undefined) {
        waiting.textContent = num(data.moderation);
      }
    }).catch(function () { /* the next round tries again */ });
  }

  var cards = Array.prototype.slice.call(document.querySelectorAll("[data-poll]"));
  cards.forEach(function (c) {
    c.querySelector("[data-hours]").addEventListener("change", function () { refresh(c); });
    refresh(c);
  });
  if (cards.length) {
    setInterval(function () { cards.forEach(refresh); }, 30000);
  }
  if (cfg.stream) { connect(cfg.stream); }

  // ------------------------------------------------------------ unlock with a token
  // The token is used once to ask the admin API for a signed link, then forgotten: it is
  // never put in a URL or stored.
  var form = document.querySelector("[data-unlock]");
  if (form && cfg.unlock) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var error = form.querySelector("[data-unlock-error]");
      error.hidden = true;
      fetch(cfg.unlock, {
        method: "POST",
        headers: { Authorization: "Bearer " + form.elements.token.value.trim() },
      }).then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      }).then(function (link) {
        var next = new URL(link.url);
        next.searchParams.set("lang", cfg.lang);
        window.location.assign(next.pathname + next.search);
      }).catch(function () { error.hidden = false; });
    });
  }
})();
