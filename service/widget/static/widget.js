// civicpoll loader: <div data-civicpoll="ID"></div> becomes the poll's iframe, sized by
// the height the poll page reports; <div data-civicpoll-site="SLUG"></div> becomes the poll
// placed on this page, or stays empty. Safe to include more than once on a page.
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || !me.src) return;
  var base = new URL(me.src).origin;
  var registry = window.__civicpoll = window.__civicpoll || { frames: [], n: 0 };
  var titles = { vi: "Thăm dò ý kiến", en: "Poll" };
  var keys = ["locale", "theme", "accent", "radius", "font", "voter"];

  function claim(div, name, pattern) {
    var value = div.getAttribute(name);
    if (div.getAttribute("data-civicpoll-ready") || !pattern.test(value)) return null;
    div.setAttribute("data-civicpoll-ready", "1");
    return value;
  }

  function mount(div, id, page) {
    var query = new URLSearchParams();
    keys.forEach(function (k) {
      var v = div.getAttribute("data-" + k);
      if (v) query.set(k, v);
    });
    query.set("wid", String(++registry.n));
    query.set("origin", location.origin);
    query.set("page", page);
    var frame = document.createElement("iframe");
    var lang = (div.getAttribute("data-locale") || document.documentElement.lang || "vi").slice(0, 2);
    frame.title = titles[lang] || titles.vi;
    frame.src = base + "/embed/" + encodeURIComponent(id) + "?" + query;
    frame.loading = "lazy";
    // A reserved height, so the page below does not jump when the poll arrives.
    var height = parseInt(div.getAttribute("data-height"), 10) || 340;
    frame.style.cssText = "display:block;width:100%;border:0;overflow:hidden;height:" + height + "px";
    div.textContent = "";
    div.appendChild(frame);
    registry.frames.push(frame);
  }

  if (!registry.listening) {
    registry.listening = true;
    window.addEventListener("message", function (event) {
      // Only the poll service may speak, and only from one of our own frames.
      if (event.origin !== base || !event.data || event.data.type !== "civicpoll:height") return;
      registry.frames.forEach(function (frame) {
        if (frame.contentWindow !== event.source) return;
        var h = Math.round(Number(event.data.height));
        if (h > 0) frame.style.height = Math.min(Math.max(h, 80), 2000) + "px";
        var title = event.data.title;
        if (typeof title === "string" && title) frame.title = title.slice(0, 200);
      });
    });
  }

  // The page a placement is looked up by: the canonical link when the page has one (the
  // service canonicalises further), else this address without its fragment.
  function canonical() {
    var link = document.querySelector("link[rel=canonical][href]");
    var url = new URL(link ? link.href : location.href);
    url.hash = "";
    return url.href;
  }

  function place(div, slug) {
    var page = canonical();
    fetch(base + "/v1/sites/" + slug + "/placement?page=" + encodeURIComponent(page))
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (found) {
        if (found && /^[A-Za-z0-9_-]{1,40}$/.test(found.poll_id)) mount(div, found.poll_id, page);
      })
      // Nothing placed here, or the service away: the page shows nothing at all.
      .catch(function () {});
  }

  function scan() {
    Array.prototype.forEach.call(document.querySelectorAll("div[data-civicpoll]"), function (div) {
      var id = claim(div, "data-civicpoll", /^[A-Za-z0-9_-]{1,40}$/);
      if (id) mount(div, id, location.origin + location.pathname);
    });
    Array.prototype.forEach.call(document.querySelectorAll("div[data-civicpoll-site]"), function (div) {
      var slug = claim(div, "data-civicpoll-site", /^[a-z0-9][a-z0-9-]{0,62}$/);
      if (slug) place(div, slug);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
  else scan();
})();
