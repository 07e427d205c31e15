// civicpoll console: progressive enhancement only; every page works without it.
"use strict";

// Copy buttons: <button data-copy="ID"> copies the text of the field with that id.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  const status = document.getElementById(button.dataset.copy + "-status");
  const done = () => { if (status) status.textContent = button.dataset.copied || "OK"; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, () => { field.select(); });
  } else {
    field.select();
    document.execCommand("copy");
    done();
  }
});

// Preview: the language and light/dark pickers reload the framed embed page.
for (const picker of document.querySelectorAll("[data-preview]")) {
  const frame = document.getElementById(picker.dataset.preview);
  const update = () => {
    const url = new URL(frame.dataset.src, window.location.href);
    for (const select of picker.querySelectorAll("select")) {
      if (select.value) url.searchParams.set(select.name, select.value);
    }
    frame.src = url.pathname + url.search;
  };
  picker.addEventListener("change", update);
}

// Theme preview on a site's page: the framed poll follows the theme fields as typed.
const themeFrame = document.getElementById("theme-preview");
if (themeFrame) {
  const form = themeFrame.closest("section").querySelector("form[data-theme]") ||
    document.querySelector("form[data-theme]");
  const update = () => {
    const url = new URL(themeFrame.dataset.src, window.location.href);
    for (const key of ["accent", "font", "radius"]) {
      const input = form.querySelector(`[name="theme_${key}"]`);
      if (input && input.value) url.searchParams.set(key, input.value);
    }
    const mode = form.querySelector('[name="theme_mode"]');
    if (mode && mode.value) url.searchParams.set("theme", mode.value);
    themeFrame.src = url.pathname + url.search;
  };
  if (form) form.addEventListener("change", update);
}

// Moderation queue: j/k move between comments, a/r approve or reject the focused one.
const queue = document.querySelector("[data-queue]");
if (queue) {
  const rows = () => Array.from(queue.querySelectorAll("[data-comment]"));
  const focusAt = (i) => {
    const all = rows();
    if (!all.length) return;
    const row = all[Math.max(0, Math.min(all.length - 1, i))];
    row.focus();
  };
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
    const all = rows();
    const current = all.indexOf(document.activeElement.closest("[data-comment]"));
    if (event.key === "j") { focusAt(current + 1); event.preventDefault(); }
    else if (event.key === "k") { focusAt(current - 1); event.preventDefault(); }
    else if ((event.key === "a" || event.key === "r") && current >= 0) {
      const button = all[current].querySelector(`[data-key="${event.key}"]`);
      if (button) { button.click(); event.preventDefault(); }
    }
  });
}

// Options in order: up/down buttons beside each line of the options field (which stays
// the one source of what is sent), for those who would rather not cut and paste lines.
for (const box of document.querySelectorAll("[data-reorder]")) {
  const field = document.getElementById(box.dataset.reorder);
  const list = box.querySelector("ol");
  const status = box.querySelector("[data-reorder-status]");
  const lines = () => field.value.split("\n").map((l) => l.trim()).filter(Boolean);
  const render = (focusIndex, focusWhich) => {
    const all = lines();
    list.replaceChildren();
    box.hidden = all.length < 2;
    all.forEach((label, i) => {
      const item = document.createElement("li");
      const text = document.createElement("span");
      text.textContent = label + " ";
      item.append(text);
      for (const [which, step] of [["up", -1], ["down", 1]]) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "secondary";
        button.textContent = box.dataset[which];
        button.setAttribute("aria-label", `${box.dataset[which]}: ${label}`);
        button.disabled = (step < 0 && i === 0) || (step > 0 && i === all.length - 1);
        button.addEventListener("click", () => {
          const next = lines();
          const j = i + step;
          [next[i], next[j]] = [next[j], next[i]];
          field.value = next.join("\n");
          status.textContent = box.dataset.moved.replace("{label}", label).replace("{n}", j + 1);
          render(j, which);
        });
        item.append(" ", button);
      }
      list.append(item);
      if (i === focusIndex) {
        const again = item.querySelectorAll("button")[focusWhich === "up" ? 0 : 1];
        (again.disabled ? item.querySelector("button:not([disabled])") : again).focus();
      }
    });
  };
  field.addEventListener("input", () => render(-1));
  render(-1);
}

// Results page: the counts block follows the same live stream as the framed dashboard, so
// the two never show different totals (without script it is the figure at page load).
const liveCounts = document.querySelector("[data-live-counts]");
if (liveCounts && window.EventSource) {
  const locale = liveCounts.dataset.lang === "vi" ? "vi-VN" : "en-GB";
  const num = (n) => Number(n).toLocaleString(locale);
  const show = (event) => {
    const r = JSON.parse(event.data);
    liveCounts.querySelector("[data-total]").textContent = num(r.total);
    const held = liveCounts.querySelector("[data-held]");
    if (held && r.held !== undefined) held.textContent = liveCounts.dataset.heldText.replace("{n}", num(r.held));
    for (const o of r.options || []) {
      const row = liveCounts.querySelector(`[data-option="${CSS.escape(String(o.id))}"]`);
      if (!row) continue;
      row.querySelector("[data-votes]").textContent = num(o.votes);
      row.querySelector("[data-percent]").textContent = o.percent;
      row.querySelector("meter").value = o.percent;
    }
    liveCounts.dataset.shown = String(r.total);
  };
  const stream = new EventSource(liveCounts.dataset.liveCounts);
  stream.addEventListener("snapshot", show);
  stream.addEventListener("results", show);
  stream.addEventListener("closed", () => stream.close());
}
