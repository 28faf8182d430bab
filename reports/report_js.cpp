// The text of report.js: attention viewer, SVG export, figure-only mode and the in-page self-test.
#include "reports/report_js.hpp"

namespace circuits::reports {

namespace {

// Plain ES2017, no libraries. Attention patterns arrive as base64 uint8 (weight × 255), row-major
// [T query, T key]; the heatmap is one canvas pixel per cell, so n_ctx 1024 is one putImageData.
const char* const kScript = R"JS("use strict";
(function () {
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function bytes(b64) {
    const s = atob(b64), a = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
    return a;
  }
  // White -> dark blue for a weight in [0, 1].
  function shade(w) {
    return [Math.round(255 - w * 222), Math.round(255 - w * 189), Math.round(255 - w * 130)];
  }
  function shown(tok) {
    return tok.replace(/\n/g, "\\n").replace(/\t/g, "\\t").replace(/ /g, "\u2423") || "(empty)";
  }

  function Viewer(root) {
    this.root = root;
    this.data = JSON.parse(document.getElementById(root.dataset.json).textContent);
    this.cache = {};
    this.input = 0;
    this.head = 0;
    this.query = -1;
    this.build();
    this.setInput(0);
  }
  Viewer.prototype.pattern = function (k, h) {
    const key = k + ":" + h;
    if (!this.cache[key]) this.cache[key] = bytes(this.data.inputs[k].patterns[h]);
    return this.cache[key];
  };
  Viewer.prototype.build = function () {
    const self = this, root = this.root;
    const bar = el("div", "vbar");
    if (this.data.inputs.length > 1) {
      const label = el("label", "", "input ");
      const sel = el("select", "vinput");
      this.data.inputs.forEach(function (inp, k) {
        const o = el("option", "", inp.name + " (" + inp.tokens.length + " tokens)");
        o.value = String(k);
        sel.appendChild(o);
      });
      sel.addEventListener("change", function () { self.setInput(+sel.value); });
      label.appendChild(sel);
      bar.appendChild(label);
    }
    this.thumbs = el("div", "vheads");
    bar.appendChild(this.thumbs);
    root.appendChild(bar);
    this.tokens = el("div", "vtokens");
    this.tokens.setAttribute("role", "listbox");
    this.tokens.setAttribute("aria-label", "tokens: hover or focus one to see where it attends");
    root.appendChild(this.tokens);
    this.caption = el("p", "vcaption", "Hover or focus (Tab, then ← →) a token: the tokens it attends to are shaded.");
    this.caption.setAttribute("aria-live", "polite");
    root.appendChild(this.caption);
    const fig = el("figure", "vfigure");
    fig.id = root.id + "-heatmap";
    this.canvas = el("canvas", "vmain");
    this.canvas.setAttribute("aria-label", "attention pattern heatmap: rows are queries, columns keys");
    fig.appendChild(this.canvas);
    fig.appendChild(el("figcaption", "", "Attention pattern (rows: query position, columns: key position; " +
                                         "darker = more attention). The hovered query's row is outlined."));
    root.appendChild(fig);
    const over = function (e) {
      const t = e.target.closest(".vtok");
      if (t && self.tokens.contains(t)) self.setQuery(+t.dataset.i);
    };
    this.tokens.addEventListener("mouseover", over);
    this.tokens.addEventListener("focusin", over);
    this.tokens.addEventListener("keydown", function (e) {
      const step = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
      if (!step) return;
      const next = self.tokens.children[Math.max(0, Math.min(self.n - 1, self.query + step))];
      if (next) { next.focus(); e.preventDefault(); }
    });
    this.canvas.addEventListener("mousemove", function (e) {
      const r = self.canvas.getBoundingClientRect();
      const i = Math.floor((e.clientY - r.top) / r.height * self.n);
      const j = Math.floor((e.clientX - r.left) / r.width * self.n);
      if (i >= 0 && i < self.n) self.setQuery(i, j);
    });
  };
  Viewer.prototype.setInput = function (k) {
    const self = this, inp = this.data.inputs[k];
    this.input = k;
    this.n = inp.tokens.length;
    this.tokens.textContent = "";
    inp.tokens.forEach(function (tok, i) {
      const s = el("span", "vtok", shown(tok));
      s.tabIndex = 0;
      s.dataset.i = String(i);
      s.dataset.w = "0";
      s.setAttribute("role", "option");
      s.title = "position " + i;
      self.tokens.appendChild(s);
    });
    this.thumbs.textContent = "";
    this.data.heads.forEach(function (name, h) {
      const b = el("button", "vhead");
      b.type = "button";
      b.dataset.h = String(h);
      const c = el("canvas");
      self.paint(c, self.pattern(k, h), -1);
      b.appendChild(c);
      b.appendChild(el("span", "", name));
      b.addEventListener("click", function () { self.setHead(h); });
      self.thumbs.appendChild(b);
    });
    this.setHead(Math.min(this.head, this.data.heads.length - 1));
  };
  Viewer.prototype.paint = function (canvas, p, row) {
    const n = this.n;
    canvas.width = n;
    canvas.height = n;
    const g = canvas.getContext("2d"), img = g.createImageData(n, n);
    for (let i = 0; i < n * n; i++) {
      const c = shade(p[i] / 255);
      img.data[4 * i] = c[0]; img.data[4 * i + 1] = c[1]; img.data[4 * i + 2] = c[2]; img.data[4 * i + 3] = 255;
    }
    g.putImageData(img, 0, 0);
    if (row >= 0) {
      g.fillStyle = "rgba(220, 40, 40, 0.35)";
      g.fillRect(0, row, n, 1);
    }
  };
  Viewer.prototype.setHead = function (h) {
    this.head = h;
    Array.prototype.forEach.call(this.thumbs.children, function (b) {
      b.setAttribute("aria-pressed", String(+b.dataset.h === h));
    });
    this.paint(this.canvas, this.pattern(this.input, h), this.query < this.n ? this.query : -1);
    if (this.query >= 0 && this.query < this.n) this.setQuery(this.query);
  };
  Viewer.prototype.setQuery = function (i, key) {
    const p = this.pattern(this.input, this.head), n = this.n, toks = this.data.inputs[this.input].tokens;
    const spans = this.tokens.children;
    let best = 0;
    for (let j = 0; j < n; j++) {
      const w = p[i * n + j];
      if (w > p[i * n + best]) best = j;
      const c = shade(w / 255), s = spans[j];
      s.dataset.w = String(w);
      s.style.background = w ? "rgb(" + c.join(",") + ")" : "";
      s.style.color = w > 150 ? "#fff" : "";
      s.classList.toggle("vq", j === i);
    }
    if (i !== this.query) this.paint(this.canvas, p, i);
    this.query = i;
    let text = this.data.heads[this.head] + ": query " + i + " " + shown(toks[i]) + " attends most to key " + best +
               " " + shown(toks[best]) + " (" + (p[i * n + best] / 255).toFixed(2) + ")";
    if (key !== undefined && key >= 0 && key < n)
      text += "; key " + key + " " + shown(toks[key]) + ": " + (p[i * n + key] / 255).toFixed(2);
    this.caption.textContent = text;
  };


  // Token tables too long to show whole: search and page every row, from data/{key}.js.
  function loadScript(src) {
    return new Promise(function (ok, fail) {
      const s = el("script");
      s.src = src;
      s.onload = ok;
      s.onerror = function () { fail(new Error("cannot load " + src)); };
      document.head.appendChild(s);
    });
  }
  function half(h) {
    const e = (h >> 10) & 31, m = h & 1023, sign = h & 32768 ? -1 : 1;
    if (e === 0) return sign * m * Math.pow(2, -24);
    if (e === 31) return m ? NaN : sign * Infinity;
    return sign * (1 + m / 1024) * Math.pow(2, e - 15);
  }
  function fmt(v) {
    if (isNaN(v)) return "NaN";
    const s = Number(v.toPrecision(4)).toString();
    return s;
  }
  const kPage = 40;
  function TableSearch(root) {
    this.root = root;
    this.table = document.getElementById(root.dataset.table);
    this.body = this.table.tBodies[0];
    this.original = this.body.innerHTML;
    this.page = -1;
    this.status = root.querySelector(".tstatus");
    const self = this, input = root.querySelector("input");
    let timer = 0;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { self.search(input.value); }, 120);
    });
    root.querySelector(".tprev").addEventListener("click", function () { self.show(Math.max(0, self.page - 1)); });
    root.querySelector(".tnext").addEventListener("click", function () { self.show(self.page + 1); });
  }
  TableSearch.prototype.ready = function () {
    const self = this;
    if (!this.loading)
      this.loading = Promise.all([window.circuitsVocab ? null : loadScript(this.root.dataset.vocab),
                                  loadScript(this.root.dataset.src)]).then(function () {
        const t = window.circuitsTables[self.root.dataset.key], ids = bytes(t.ids), vals = bytes(t.values);
        self.rows = t.rows;
        self.k = t.k;
        self.id = function (r, j) {
          const i = r * t.k + j;
          const v = t.wide ? (ids[4 * i] | ids[4 * i + 1] << 8 | ids[4 * i + 2] << 16 | ids[4 * i + 3] << 24) >>> 0
                           : ids[2 * i] | ids[2 * i + 1] << 8;
          return v === (t.wide ? 4294967295 : 65535) ? -1 : v;
        };
        self.value = function (r, j) { const i = r * t.k + j; return half(vals[2 * i] | vals[2 * i + 1] << 8); };
      });
    return this.loading;
  };
  TableSearch.prototype.render = function (rows) {
    const vin = window.circuitsVocab.in, vout = this.root.dataset.out === "1" ? window.circuitsVocab.out : vin;
    const name = function (v, i) { return v[i] !== undefined ? v[i] : "#" + i; };
    this.body.textContent = "";
    const self = this;
    rows.forEach(function (r) {
      const tr = el("tr"), th = el("th");
      th.appendChild(el("span", "tok", name(vin, r)));
      tr.appendChild(th);
      for (let j = 0; j < self.k; j++) {
        const td = el("td"), id = self.id(r, j);
        if (id >= 0) { td.appendChild(el("span", "tok", name(vout, id))); td.appendChild(el("span", "val", fmt(self.value(r, j)))); }
        tr.appendChild(td);
      }
      self.body.appendChild(tr);
    });
  };
  TableSearch.prototype.search = function (q) {
    const self = this;
    if (!q) { this.body.innerHTML = this.original; this.status.textContent = "the strongest rows"; return Promise.resolve([]); }
    return this.ready().then(function () {
      const v = window.circuitsVocab.in, exact = [], prefix = [], inside = [];
      for (let i = 0; i < self.rows; i++) {
        const t = v[i] !== undefined ? v[i] : "#" + i;
        if (t === q) exact.push(i);
        else if (t.indexOf(q) === 0) prefix.push(i);
        else if (t.indexOf(q) > 0) inside.push(i);
      }
      const found = exact.concat(prefix, inside), rows = found.slice(0, kPage);
      self.render(rows);
      self.status.textContent = found.length + " tokens match" + (found.length > kPage ? " (first " + kPage + " shown)" : "");
      return rows;
    });
  };
  TableSearch.prototype.show = function (page) {
    const self = this;
    return this.ready().then(function () {
      const last = Math.floor((self.rows - 1) / kPage);
      self.page = Math.min(page, last);
      const rows = [];
      for (let r = self.page * kPage; r < Math.min(self.rows, (self.page + 1) * kPage); r++) rows.push(r);
      self.render(rows);
      self.status.textContent = "rows " + rows[0] + "–" + rows[rows.length - 1] + " of " + self.rows + " (token order)";
    });
  };

  // SVG text of a figure: its own <svg>, or for a heatmap canvas an SVG holding the image.
  function figureSvg(fig) {
    const svg = fig.querySelector("svg");
    if (svg) {
      const c = svg.cloneNode(true);
      c.setAttribute("xmlns", "http://www.w3.org/2000/svg");
      return new XMLSerializer().serializeToString(c);
    }
    const canvas = fig.querySelector("canvas");
    if (!canvas) return "";
    const w = canvas.width, h = canvas.height, size = Math.max(256, Math.min(1024, 4 * w));
    return '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="' + size +
           '" height="' + size * h / w + '" viewBox="0 0 ' + w + " " + h + '"><image width="' + w + '" height="' + h +
           '" style="image-rendering:pixelated" xlink:href="' + canvas.toDataURL("image/png") + '"/></svg>';
  }
  function figureName(fig) {
    const s = fig.querySelector("svg[id]") || fig;
    return (s.id || "figure") + ".svg";
  }
  function addExport(fig) {
    if (fig.querySelector(".export")) return;
    const b = el("button", "export", "download SVG");
    b.type = "button";
    b.title = "save this figure as " + figureName(fig);
    b.addEventListener("click", function () {
      const url = URL.createObjectURL(new Blob([figureSvg(fig)], {type: "image/svg+xml"}));
      const a = el("a");
      a.href = url;
      a.download = figureName(fig);
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    });
    fig.insertBefore(b, fig.firstChild);
  }

  function selftest(viewers, searches) {
    const out = {ready_ms: performance.now(), viewers: [], exports: []};
    viewers.forEach(function (v) {
      v.data.inputs.forEach(function (inp, k) {
        v.setInput(k);
        v.data.heads.forEach(function (name, h) {
          v.thumbs.children[h].dispatchEvent(new MouseEvent("click", {bubbles: true}));
          // Long inputs: every query up to 64, else 64 evenly spaced ones (each shades n tokens).
          const spans = v.tokens.children, strongest = [], agree = [], queries = [];
          const stride = Math.max(1, Math.ceil(spans.length / 64));
          const start = performance.now();
          for (let i = 0; i < spans.length; i += stride) {
            queries.push(i);
            spans[i].dispatchEvent(new FocusEvent("focusin", {bubbles: true}));
            let best = 0;
            for (let j = 0; j < spans.length; j++) if (+spans[j].dataset.w > +spans[best].dataset.w) best = j;
            strongest.push(best);
            const before = Array.prototype.map.call(spans, function (s) { return s.style.background; }).join("|");
            spans[i].dispatchEvent(new MouseEvent("mouseover", {bubbles: true}));
            agree.push(before === Array.prototype.map.call(spans, function (s) { return s.style.background; }).join("|"));
          }
          out.viewers.push({viewer: v.root.id, input: inp.name, head: name, tokens: inp.tokens, queries: queries,
                            strongest: strongest, hover_matches_focus: agree.every(Boolean),
                            caption: v.caption.textContent, ms_per_query: (performance.now() - start) / queries.length / 2});
        });
      });
    });
    document.querySelectorAll("figure").forEach(function (fig) {
      const text = figureSvg(fig);
      if (!text) return;
      const doc = new DOMParser().parseFromString(text, "image/svg+xml");
      out.exports.push({figure: figureName(fig), bytes: text.length,
                        ok: !doc.querySelector("parsererror") && doc.documentElement.nodeName === "svg",
                        button: !!fig.querySelector(".export")});
    });
    out.searches = [];
    const checks = searches.filter(function (t) { return t.root.dataset.probe; }).map(function (t) {
      const start = performance.now();
      return t.search(t.root.dataset.probe).then(function () {
        const first = t.body.rows[0];
        const got = first ? [first.cells[0].textContent, first.cells[1].querySelector(".tok").textContent] : [];
        out.searches.push({table: t.root.dataset.table, probe: t.root.dataset.probe, expect: t.root.dataset.expect,
                           got: got, ok: got[0] === t.root.dataset.probe && got[1] === t.root.dataset.expect,
                           ms: performance.now() - start});
      });
    });
    return Promise.all(checks).catch(function (e) { out.searches.push({ok: false, error: String(e)}); }).then(function () {
      const pre = el("pre", "", JSON.stringify(out));
      pre.id = "selftest";
      document.body.appendChild(pre);
    });
  }

  function figureOnly(id) {
    const target = document.getElementById(id);
    const fig = target && (target.closest("figure") || target);
    if (!fig) return;
    document.body.textContent = "";
    document.body.appendChild(fig);
    document.body.style.margin = "0";
    document.body.style.maxWidth = "none";
    fig.querySelectorAll(".export").forEach(function (b) { b.remove(); });
    const g = fig.querySelector("svg, canvas");
    if (g) { g.style.width = "96vw"; g.style.height = "calc(100vh - 8em)"; g.style.maxWidth = "none"; }
  }

  document.addEventListener("DOMContentLoaded", function () {
    const viewers = Array.prototype.map.call(document.querySelectorAll(".viewer[data-json]"),
                                             function (r) { return new Viewer(r); });
    const searches = Array.prototype.map.call(document.querySelectorAll(".tsearch"),
                                              function (r) { return new TableSearch(r); });
    document.querySelectorAll("figure").forEach(addExport);
    const hash = decodeURIComponent(location.hash.slice(1));
    if (hash === "selftest") selftest(viewers, searches);
    else if (hash.indexOf("figure=") === 0) figureOnly(hash.slice(7));
    else if (hash.indexOf("query=") === 0)  // a link to one query: shaded as if hovered
      viewers.forEach(function (v) { v.setQuery(Math.max(0, Math.min(v.n - 1, +hash.slice(6) || 0))); });
  });
})();
)JS";

}  // namespace

const char* report_js() { return kScript; }

}  // namespace circuits::reports
