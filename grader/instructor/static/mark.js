// The marking app's pages: marks saved as they are entered (one field at a time, naming the
// value it replaces, so that two markers never overwrite each other unseen), rubric items
// applied by click or number key, keyboard navigation between blocks and submissions.
"use strict";

const HEADERS = { "Content-Type": "application/json", "X-Grader": "1" };

// who is marking: the server's default (grader mark --marker), or a name kept in this browser
const whoButton = document.getElementById("who");
function marker() { return localStorage.getItem("grader-marker") || (whoButton ? whoButton.dataset.default : ""); }
if (whoButton) {
  whoButton.textContent = marker();
  whoButton.addEventListener("click", () => {
    const name = prompt("Your name, shown with each mark you change:", marker());
    if (name !== null) { localStorage.setItem("grader-marker", name.trim().slice(0, 80)); whoButton.textContent = marker(); }
  });
}

async function api(method, url, body, keepalive = false) {
  const headers = { ...HEADERS, "X-Marker": encodeURIComponent(marker()) };
  const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), keepalive });
  let data = {};
  try { data = await r.json(); } catch (e) { /* an empty or non-JSON answer */ }
  return { status: r.status, data };
}

const fmt = (v) => (v === null || v === undefined || v === "" ? "" : String(+(+v).toFixed(4)));

// ---- one item's mark panel -----------------------------------------------------------------------

class Panel {
  constructor(el) {
    this.el = el;
    this.k = el.dataset.k;
    this.item = el.dataset.item;
    this.max = parseFloat(el.dataset.max);
    this.state = {
      points: el.dataset.points === "" ? null : parseFloat(el.dataset.points),
      comment: el.dataset.comment || "",
    };
    this.points = el.querySelector("input.points");
    this.comment = el.querySelector("textarea.comment");
    this.msg = el.querySelector(".msg");
    this.chain = { points: Promise.resolve(), comment: Promise.resolve() };
    this.timers = {};
    this.points.addEventListener("input", () => this.edited("points", 350));
    this.points.addEventListener("change", () => this.edited("points", 0));
    this.comment.addEventListener("input", () => this.edited("comment", 500));
    this.comment.addEventListener("change", () => this.edited("comment", 0));
    for (const input of [this.points, this.comment]) {
      input.addEventListener("keydown", (ev) => {
        if (ev.key === "Escape") { this.flush(); input.blur(); ev.preventDefault(); }
        if (ev.key === "Enter" && input === this.points) { this.flush(); nav.move(1, "points"); ev.preventDefault(); }
      });
    }
    el.querySelectorAll("button.rub").forEach((b) => b.addEventListener("click", () => this.toggle(b)));
    el.querySelectorAll("button.rub-add").forEach((b) => b.addEventListener("click", () => addRubricPrompt(this.item)));
  }

  key() { return `${this.k}/${encodeURIComponent(this.item)}`; }

  value(field) {
    if (field === "comment") return this.comment.value;
    const text = this.points.value.trim();
    if (text === "") return this.points.validity.badInput ? undefined : null;
    const v = Number(text);
    return Number.isFinite(v) ? v : undefined;
  }

  check() {
    const v = this.value("points");
    let why = "";
    if (v === undefined) why = "not a number: not saved";
    else if (v !== null && (v < 0 || v > this.max + 1e-9)) why = `${fmt(v)} is outside 0..${fmt(this.max)}: not saved`;
    this.points.classList.toggle("invalid", !!why);
    this.points.setAttribute("aria-invalid", why ? "true" : "false");
    this.say(why);
    return !why;
  }

  edited(field, delay) {
    if (field === "points" && !this.check()) { clearTimeout(this.timers.points); return; }
    clearTimeout(this.timers[field]);
    this.setState("typing…");
    this.timers[field] = setTimeout(() => this.save(field), delay);
  }

  flush(keepalive = false) {
    for (const field of ["points", "comment"]) {
      if (this.timers[field] !== undefined) {
        clearTimeout(this.timers[field]);
        delete this.timers[field];
        if (field !== "points" || this.check()) this.save(field, keepalive);
      }
    }
  }

  save(field, keepalive = false) {
    delete this.timers[field];
    this.chain[field] = this.chain[field].then(async () => {
      const value = this.value(field);
      if (value === undefined || value === this.state[field]) { this.setState(this.pending() ? "" : "saved"); return; }
      this.setState("saving…");
      const { status, data } = await api("PUT", `/api/mark/${this.key()}`, { field, value, expected: this.state[field] }, keepalive);
      if (status === 200) {
        this.update(data.mark);
        progress(data.progress);
        this.say("");
        this.setState("saved");
      } else if (status === 409) {
        const now = data.mark[field];
        this.update(data.mark, field);
        this.say(`${data.mark.marker || "another marker"} changed the ${field} meanwhile to “${field === "points" ? fmt(now) : now}”: ` +
                 `yours (“${field === "points" ? fmt(value) : value}”) was not saved. Enter it again to replace theirs.`);
        this.setState("");
      } else {
        this.say(data.error || `not saved (${status})`);
        this.setState("");
      }
    });
    return this.chain[field];
  }

  pending() { return Object.keys(this.timers).length > 0; }

  async toggle(button) {
    const on = button.getAttribute("aria-pressed") !== "true";
    const { status, data } = await api("PUT", `/api/applied/${this.key()}/${button.dataset.rid}`, { on });
    if (status === 200) { this.update(data.mark); progress(data.progress); this.setState("saved"); }
    else this.say(data.error || `not saved (${status})`);
  }

  // show a mark from the server; a field the marker is typing in is left alone unless `force`d
  update(mark, force) {
    this.state.points = mark.points;
    this.state.comment = mark.comment;
    if (force === "points" || document.activeElement !== this.points) {
      this.points.value = fmt(mark.points);
      this.check();
    }
    if (force === "comment" || document.activeElement !== this.comment) this.comment.value = mark.comment;
    this.el.querySelector(".score").textContent = mark.score === null ? "not marked" : `score ${fmt(mark.score)}`;
    this.el.querySelectorAll("button.rub").forEach((b) =>
      b.setAttribute("aria-pressed", mark.applied.includes(parseInt(b.dataset.rid, 10)) ? "true" : "false"));
    this.el.dataset.marked = mark.marked ? "1" : "";
  }

  say(text) { this.msg.textContent = text; }
  setState(text) { this.el.querySelector(".state").textContent = text; }
}

function progress(p) {
  if (!p) return;
  const el = document.getElementById("progress");
  if (el) el.textContent = `${p.overall[0]} of ${p.overall[1]} marked`;
  const sub = document.querySelector(".sub-progress");
  if (sub && p.submission) sub.textContent = `${p.submission[0]} of ${p.submission[1]} items marked here`;
  const q = document.querySelector(".q-progress");
  if (q && p.item) q.textContent = `${p.item[0]} of ${p.item[1]} submissions marked`;
}

const panels = [...document.querySelectorAll(".mark[data-k]")].map((el) => new Panel(el));
const panelOf = (block) => panels.find((p) => block.contains(p.el));

function marks(list) {
  for (const m of list || []) {
    for (const p of panels) if (p.k === String(m.k) && p.item === m.item) p.update(m);
  }
}

// ---- the rubric -----------------------------------------------------------------------------------

function rubricNumber(v, max, msg) {
  const x = Number(v);
  if (v === "" || !Number.isFinite(x)) { msg.textContent = "a rubric item needs points, e.g. -1"; return undefined; }
  if (Math.abs(x) > max + 1e-9) { msg.textContent = `${fmt(x)} is more than the question's ${fmt(max)} points`; return undefined; }
  return x;
}

async function addRubric(item, points, text, msg) {
  const { status, data } = await api("POST", `/api/rubric/${encodeURIComponent(item)}`, { points, text });
  if (status === 200) location.reload();
  else msg.textContent = data.error || `not added (${status})`;
}

function addRubricPrompt(item) {
  const line = prompt(`New rubric item for ${item}: points, then text (e.g. "-1 no legend")`);
  if (!line) return;
  const m = line.trim().match(/^([+-]?\d*\.?\d+)\s*:?\s*(.+)$/);
  if (!m) { alert("write the points first, then the text: -1 no legend"); return; }
  addRubric(item, Number(m[1]), m[2], { set textContent(t) { alert(t); } });
}

const editor = document.querySelector(".rubric-editor");
if (editor) {
  const max = parseFloat(editor.dataset.max);
  const msg = editor.querySelector(".msg");
  editor.querySelectorAll(".rubric-row").forEach((row) => {
    row.querySelector(".r-save").addEventListener("click", async () => {
      msg.textContent = "";
      const points = rubricNumber(row.querySelector(".r-points").value, max, msg);
      if (points === undefined) return;
      const { status, data } = await api("PUT", `/api/rubric/${row.dataset.rid}`, { points, text: row.querySelector(".r-text").value });
      if (status !== 200) { msg.textContent = data.error || `not saved (${status})`; return; }
      document.querySelectorAll(`button.rub[data-rid="${row.dataset.rid}"]`).forEach((b) => {
        b.querySelector(".rp").textContent = (points > 0 ? "+" : "") + fmt(points);
        b.querySelector(".rt").textContent = data.rubric.text;
      });
      marks(data.marks);
      progress(data.progress);
      msg.textContent = "";
      row.querySelector(".r-used").textContent = `saved; applied to ${data.marks.length}`;
    });
    row.querySelector(".r-delete").addEventListener("click", async () => {
      if (!confirm("Delete this rubric item from every submission it is applied to?")) return;
      const { status, data } = await api("DELETE", `/api/rubric/${row.dataset.rid}`);
      if (status === 200) location.reload(); else msg.textContent = data.error || `not deleted (${status})`;
    });
  });
  const fresh = editor.querySelector(".rubric-new");
  fresh.querySelector(".r-add").addEventListener("click", () => {
    msg.textContent = "";
    const points = rubricNumber(fresh.querySelector(".r-points").value, max, msg);
    const text = fresh.querySelector(".r-text").value.trim();
    if (points === undefined) return;
    if (!text) { msg.textContent = "a rubric item needs a text, e.g. no legend"; return; }
    addRubric(editor.dataset.item, points, text, msg);
  });
}

// ---- merging ----------------------------------------------------------------------------------------

const mergeButton = document.getElementById("merge");
if (mergeButton) {
  mergeButton.addEventListener("click", async () => {
    const out = document.getElementById("merge-state");
    out.textContent = "merging…";
    const { status, data } = await api("POST", "/api/merge", {});
    out.textContent = status === 200 ? data.message : (data.error || `failed (${status})`);
  });
}

// ---- keyboard navigation ------------------------------------------------------------------------------

const nav = {
  blocks: [...document.querySelectorAll("section.block")],
  at: -1,
  show(i, focus) {
    if (!this.blocks.length) return;
    this.at = Math.max(0, Math.min(this.blocks.length - 1, i));
    this.blocks.forEach((b, j) => b.classList.toggle("current", j === this.at));
    const block = this.blocks[this.at];
    block.scrollIntoView({ block: "start" });
    const p = panelOf(block);
    if (focus && p) (focus === "points" ? p.points : p.comment).focus();
    history.replaceState(null, "", `#${block.id}`);
  },
  move(d, focus) { this.show(this.at < 0 ? 0 : this.at + d, focus); },
  unmarked() {
    for (let j = 1; j <= this.blocks.length; j++) {
      const i = (this.at + j) % this.blocks.length;
      const p = panelOf(this.blocks[i]);
      if (p && !p.el.dataset.marked) return this.show(i, "points");
    }
  },
};
nav.blocks.forEach((b, i) => b.addEventListener("focusin", () => {
  nav.at = i;
  nav.blocks.forEach((x, j) => x.classList.toggle("current", j === i));
}));
if (location.hash) {
  const i = nav.blocks.findIndex((b) => `#${b.id}` === location.hash);
  if (i >= 0) nav.at = i;
}

function go(id) { const a = document.getElementById(id); if (a) { panels.forEach((p) => p.flush(true)); location.href = a.href; } }

document.addEventListener("keydown", (ev) => {
  const typing = ev.target.closest("input, textarea, select, [contenteditable]");
  if (ev.ctrlKey && (ev.key === "." || ev.key === ",")) { go(ev.key === "." ? "next" : "prev"); ev.preventDefault(); return; }
  if (typing || ev.altKey || ev.metaKey || ev.ctrlKey) return;
  const block = nav.blocks[nav.at];
  const p = block && panelOf(block);
  if (ev.key === "j") nav.move(1);
  else if (ev.key === "k") nav.move(-1);
  else if (ev.key === "p" && p) { p.points.focus(); p.points.select(); }
  else if (ev.key === "c" && p) p.comment.focus();
  else if (ev.key === "u") nav.unmarked();
  else if (ev.key === "]") go("next");
  else if (ev.key === "[") go("prev");
  else if (ev.key === "q" && block && block.dataset.item && document.body.dataset.view === "submission") location.href = `/q/${encodeURIComponent(block.dataset.item)}`;
  else if (ev.key === "?") document.getElementById("help").showModal();
  else if (/^[1-9]$/.test(ev.key) && p) {
    const b = p.el.querySelectorAll("button.rub")[parseInt(ev.key, 10) - 1];
    if (b) b.click();
  } else return;
  ev.preventDefault();
});
document.getElementById("help-button")?.addEventListener("click", () => document.getElementById("help").showModal());
window.addEventListener("pagehide", () => panels.forEach((p) => p.flush(true)));
