// Serambi console: the live socket, keyboard shortcuts and the composer's small helpers.
// Server-rendered HTML does the rest (htmx). No eval, no inline handlers: the page's CSP forbids both.
(function () {
  "use strict";

  var body = document.body;
  var root = document.getElementById("console");
  var me = body.dataset.me || "";
  var csp = 0;
  // A blocked script or style is a bug (or an attack) worth seeing; the browser tests check it is zero.
  document.addEventListener("securitypolicyviolation", function (e) {
    csp++;
    console.warn("blocked by the content security policy:", e.violatedDirective, e.blockedURI);
  });

  // ---------- toasts ----------
  function toast(kind, message, retry) {
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    var t = document.createElement("div");
    t.className = "toast toast-" + kind;
    t.setAttribute("role", kind === "error" ? "alert" : "status");
    var span = document.createElement("span");
    span.textContent = message;
    t.appendChild(span);
    if (retry) {
      var again = document.createElement("button");
      again.type = "button";
      again.className = "toast-retry";
      again.textContent = body.dataset.lang === "id" ? "Coba lagi" : "Retry";
      again.addEventListener("click", function () { t.remove(); retry(); });
      t.appendChild(again);
    }
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "×");
    close.setAttribute("data-close-toast", "");
    close.textContent = "×";
    t.appendChild(close);
    box.appendChild(t);
    setTimeout(function () { t.remove(); }, kind === "error" ? 12000 : 5000);
  }
  function toastHTML(html) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var el = fragment(html);
    if (!el) return;
    box.appendChild(el);
    if (window.htmx) htmx.process(el);
    setTimeout(function () { el.remove(); }, 10000);
  }
  document.addEventListener("click", function (e) {
    var c = e.target.closest("[data-close-toast]");
    if (c) c.closest(".toast").remove();
  });
  document.addEventListener("serambi:toast", function (e) {
    toast(e.detail.kind || "ok", e.detail.message);
  });
  document.addEventListener("serambi:title", function (e) {
    if (e.detail && e.detail.value) document.title = e.detail.value + " · Serambi";
  });
  // Failures say why and offer to send the same request again.
  function retryOf(elt) {
    if (!elt || !window.htmx) return null;
    return function () {
      if (elt.tagName === "FORM") htmx.trigger(elt, "submit");
      else if (elt.closest("form[hx-trigger=change]")) htmx.trigger(elt.closest("form"), "change");
      else elt.click();
    };
  }
  document.addEventListener("htmx:responseError", function (e) {
    var xhr = e.detail.xhr;
    var text = (xhr && xhr.responseText) || "";
    if (xhr && xhr.status === 401) return; // HX-Redirect takes the agent to sign-in
    if (text.length > 300 || text.indexOf("<") === 0) text = "";
    var retry = xhr && (xhr.status >= 500 || xhr.status === 409) ? retryOf(e.detail.elt) : null;
    toast("error", text || ("Error " + (xhr ? xhr.status : "")), retry);
  });
  document.addEventListener("htmx:sendError", function (e) {
    toast("error", body.dataset.lang === "id" ? "Jaringan terputus." : "Network problem.", retryOf(e.detail.elt));
  });

  function fragment(html) {
    var t = document.createElement("template");
    t.innerHTML = html.trim();
    return t.content.firstElementChild;
  }

  // ---------- chat widget settings: colour swatches and the live preview ----------
  // The CSP forbids style attributes, so colours come from data-swatch through the CSSOM.
  function paintSwatches(scope) {
    (scope || document).querySelectorAll("[data-swatch]").forEach(function (el) {
      if (/^#[0-9a-fA-F]{6}$/.test(el.dataset.swatch)) el.style.backgroundColor = el.dataset.swatch;
    });
  }
  paintSwatches();
  document.addEventListener("input", function (e) {
    var t = e.target;
    var form = t.closest && t.closest("#wi-form");
    if (!form) return;
    var preview = form.querySelector("[data-wi-preview]");
    if (!preview) return;
    if (t.matches("[data-wi-color]")) {
      preview.querySelectorAll("[data-swatch]").forEach(function (el) { el.dataset.swatch = t.value; });
      var out = form.querySelector("[data-wi-color-value]");
      if (out) out.textContent = t.value;
      paintSwatches(preview);
    } else if (t.matches("[data-wi-name]")) {
      var name = preview.querySelector("[data-wi-preview-name]");
      if (name) name.textContent = t.value;
    } else if (t.dataset.wiGreeting && t.dataset.wiGreeting === (body.dataset.lang === "id" ? "id" : "en")) {
      var greet = preview.querySelector("[data-wi-preview-greeting]");
      if (greet) greet.textContent = t.value || t.placeholder;
    }
  });
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (!t.matches || !t.matches("[data-wi-position]")) return;
    var preview = document.querySelector("[data-wi-preview]");
    if (!preview) return;
    preview.classList.toggle("wi-left", t.value === "left");
    preview.classList.toggle("wi-right", t.value !== "left");
  });

  // ---------- copy buttons (Getting started: snippets, URLs, fresh secrets) ----------
  // The text is selected first, so that where the clipboard API is refused (plain http, an
  // old browser) the admin can still press Ctrl+C; the feedback says which happened.
  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-copy]");
    if (!btn) return;
    var src = document.getElementById(btn.dataset.copy);
    if (!src) return;
    var text = src.textContent;
    var note = btn.parentNode.querySelector(".copy-feedback");
    function say(msg, ok) {
      if (note) note.textContent = msg;
      btn.classList.toggle("copied", ok);
      clearTimeout(btn._copyTimer);
      btn._copyTimer = setTimeout(function () {
        if (note) note.textContent = "";
        btn.classList.remove("copied");
      }, 4000);
    }
    selectText(src);
    function manual() {
      selectText(src);
      say(btn.dataset.copyManual || "Ctrl+C", false);
    }
    if (!navigator.clipboard || !window.isSecureContext) return manual();
    navigator.clipboard.writeText(text).then(function () {
      say(btn.dataset.copied || "Copied", true);
    }, manual);
  });

  if (!root) return; // sign-in, settings and admin pages need nothing more

  // ---------- live socket ----------
  var hub = root.dataset.hub;
  var lastSeq = parseInt(root.dataset.seq, 10) || 0;
  var pendingSince = null; // a view rendered while disconnected, to catch up from on reconnect
  var ws = null;
  var backoff = 500;
  var connected = false;
  var conn = document.getElementById("conn");
  window.serambi = { seq: function () { return lastSeq; }, frames: 0, csp: function () { return csp; } };

  function currentView() {
    var conv = document.getElementById("conv");
    var list = document.getElementById("list");
    return { conv: conv ? conv.dataset.conv : "", list: list ? list.dataset.list : "" };
  }

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  function sendView(since) {
    var v = currentView();
    v.t = "view";
    v.hub = hub;
    v.since = since;
    if (!send(v)) pendingSince = pendingSince === null ? since : Math.min(pendingSince, since);
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/ws");
    ws.onopen = function () {
      connected = true;
      backoff = 500;
      if (conn) conn.hidden = true;
      var since = pendingSince === null ? lastSeq : Math.min(lastSeq, pendingSince);
      pendingSince = null;
      sendView(since);
      send({ t: document.hidden ? "away" : "active" });
    };
    ws.onmessage = function (e) {
      var f;
      try { f = JSON.parse(e.data); } catch (err) { return; }
      window.serambi.frames++;
      (f.ops || []).forEach(apply);
      if (f.seq && f.seq > lastSeq) lastSeq = f.seq;
      root.dataset.lastSeq = String(lastSeq);
    };
    ws.onclose = function () {
      connected = false;
      if (conn) conn.hidden = false;
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }

  function apply(o) {
    switch (o.op) {
      case "msg": upsertMsg(o.conv, o.id, o.html); break;
      case "row": upsertRow(o); break;
      case "unrow": removeEl(o.id); break;
      case "unrow-customer":
        document.querySelectorAll('#conv-list .row[data-customer="' + cssEscape(o.customer) + '"]').forEach(function (r) { r.remove(); });
        break;
      case "replace": replaceEl(o.id, o.html); break;
      case "presence": setPresence(o.agent, o.state); break;
      case "presence-all":
        document.querySelectorAll("[data-presence]").forEach(function (d) {
          setPresence(d.dataset.presence, (o.values || {})[d.dataset.presence] || "offline");
        });
        break;
      case "counts":
        Object.keys(o.values || {}).forEach(function (k) {
          document.querySelectorAll('[data-count="' + cssEscape(k) + '"]').forEach(function (c) {
            var n = o.values[k];
            c.textContent = n > 999 ? "999+" : String(n);
          });
        });
        break;
      case "toast": toastHTML(o.html); break;
      case "pop": popCall(o.id, o.html); break;
      case "unpop": removeEl(o.id); break;
      case "refresh": htmx.ajax("GET", o.url, { target: o.target || "#work" }); break;
      case "reload": location.reload(); break;
    }
  }

  function cssEscape(s) { return window.CSS && CSS.escape ? CSS.escape(s || "") : String(s || "").replace(/["\\]/g, "\\$&"); }

  function removeEl(id) {
    var el = document.getElementById(id);
    if (el) el.remove();
  }

  function replaceEl(id, html) {
    var old = document.getElementById(id);
    if (!old) return;
    // Keep what the agent is typing in a header field (tags) from being wiped by someone else's change.
    if (old.contains(document.activeElement) && document.activeElement.tagName === "INPUT") return;
    var el = fragment(html);
    old.replaceWith(el);
    htmx.process(el);
    hideSelf(el);
  }

  // ---------- screen-pop: ringing calls stay until answered or over (the hub says "unpop") ----------
  function popCall(id, html) {
    var box = document.getElementById("calls");
    var el = fragment(html);
    if (!box || !el) return;
    var old = document.getElementById(id);
    if (old) {
      if (old.dataset.dismissed) return; // the agent closed it; it rings for others
      old.replaceWith(el);
    } else {
      box.appendChild(el);
    }
    htmx.process(el);
  }
  document.addEventListener("click", function (e) {
    var close = e.target.closest("[data-close-call]");
    if (close) {
      var pop = close.closest(".call-pop");
      pop.hidden = true;
      pop.dataset.dismissed = "1";
    }
  });

  function setPresence(agent, state) {
    document.querySelectorAll('[data-presence="' + cssEscape(agent) + '"]').forEach(function (d) {
      d.dataset.state = state;
      d.title = state;
    });
  }

  function hideSelf(scope) {
    (scope || document).querySelectorAll(".collab [data-agent]").forEach(function (a) {
      if (a.dataset.agent === me) a.hidden = true;
    });
  }

  // ---------- timeline ----------
  function scroller() { return document.getElementById("timeline-scroll"); }
  function nearBottom() {
    var s = scroller();
    return !s || s.scrollHeight - s.scrollTop - s.clientHeight < 120;
  }
  function toBottom() {
    var s = scroller();
    if (s) s.scrollTop = s.scrollHeight;
  }

  function upsertMsg(convID, id, html) {
    var el = fragment(html);
    if (!el) return;
    var old = document.getElementById(id);
    if (old) {
      old.replaceWith(el);
      htmx.process(el);
      return;
    }
    var tl = document.getElementById("timeline-" + convID);
    if (!tl) return;
    var stick = nearBottom() || el.querySelector(".author") && el.classList.contains("dir-out");
    var items = tl.querySelectorAll(":scope > .item");
    var after = null;
    for (var i = items.length - 1; i >= 0; i--) {
      if ((items[i].dataset.at || "") <= (el.dataset.at || "")) { after = items[i]; break; }
    }
    var prevDay = after ? after.dataset.day : null;
    if (el.dataset.day && prevDay !== el.dataset.day && !tl.querySelector('.day[data-day="' + el.dataset.day + '"]')) {
      var sep = document.createElement("li");
      sep.className = "day";
      sep.dataset.day = el.dataset.day;
      var span = document.createElement("span");
      span.textContent = el.dataset.dayLabel || el.dataset.day;
      sep.appendChild(span);
      insertAfter(tl, sep, after);
      after = sep;
    }
    insertAfter(tl, el, after);
    htmx.process(el);
    if (stick) toBottom();
    if (el.classList.contains("dir-in") && !document.hidden) send({ t: "read", conv: convID });
  }

  function insertAfter(parent, el, after) {
    if (after) after.after(el);
    else {
      var start = parent.querySelector(":scope > #older");
      if (start) start.after(el); else parent.prepend(el);
    }
  }

  function dedupeDays() {
    var seen = {};
    document.querySelectorAll(".timeline > .day").forEach(function (d) {
      if (seen[d.dataset.day]) d.remove(); else seen[d.dataset.day] = true;
    });
  }

  // ---------- list ----------
  function sortKey(s) {
    var parts = (s || "").split("-");
    return ("00000000000000000000" + parts[0]).slice(-20) + "-" + (parts[1] || "");
  }

  function upsertRow(o) {
    var list = document.getElementById("conv-list");
    if (!list) return;
    var old = document.getElementById(o.id);
    var checked = old && old.querySelector(".pick") && old.querySelector(".pick").checked;
    var el = fragment(o.html);
    if (!el) return;
    var key = sortKey(o.sort);
    var before = null;
    var rows = list.children;
    for (var i = 0; i < rows.length; i++) {
      if (rows[i] !== old && sortKey(rows[i].dataset.sort) < key) { before = rows[i]; break; }
    }
    if (old) old.remove();
    if (!before && document.getElementById("more-rows")) return; // it belongs to a page not loaded yet
    list.insertBefore(el, before);
    if (checked) el.querySelector(".pick").checked = true;
    htmx.process(el);
    markSelected();
    var empty = document.getElementById("list-empty");
    if (empty) empty.remove();
  }

  function markSelected() {
    var v = currentView();
    document.querySelectorAll("#conv-list .row").forEach(function (r) {
      var on = r.dataset.conv === v.conv;
      r.classList.toggle("selected", on);
      var a = r.querySelector(".row-link");
      if (a) { if (on) a.setAttribute("aria-current", "true"); else a.removeAttribute("aria-current"); }
    });
  }

  // ---------- fragments arriving through htmx ----------
  function processPushes(scope) {
    (scope || document).querySelectorAll("template.push").forEach(function (t) {
      var el = t.content.firstElementChild;
      if (t.dataset.op === "msg" && el) {
        upsertMsg(t.dataset.conv, t.dataset.id, el.outerHTML);
      } else if (t.dataset.op === "append-row" && el) {
        var list = document.getElementById("conv-list");
        if (list && !document.getElementById(el.id)) {
          list.appendChild(el);
          htmx.process(el);
        }
      }
      t.remove();
    });
  }

  document.addEventListener("htmx:afterSettle", function (e) {
    var target = e.detail.target;
    processPushes(document);
    if (!target) return;
    if (target.id === "work") {
      toBottom();
      var conv = document.getElementById("conv");
      sendView(conv ? parseInt(conv.dataset.seq, 10) || 0 : lastSeq);
      markSelected();
      hideSelf();
      initComposer();
    } else if (target.id === "list-pane") {
      var list = document.getElementById("list");
      sendView(list ? parseInt(list.dataset.seq, 10) || 0 : lastSeq);
      markSelected();
      document.querySelectorAll(".view-link").forEach(function (a) {
        var on = list && a.dataset.view === list.dataset.viewKey;
        a.classList.toggle("active", !!on);
        a.setAttribute("aria-current", on ? "page" : "false");
      });
    } else if (target.id === "composer" || (target.closest && target.closest("#composer"))) {
      initComposer();
    }
    dedupeDays();
    refreshTimes();
  });

  // ---------- relative times ----------
  var units = (body.dataset.units || "now,m,h,d").split(",");
  function refreshTimes() {
    var now = Date.now();
    document.querySelectorAll("time[data-rel]").forEach(function (t) {
      var d = (now - Date.parse(t.getAttribute("datetime"))) / 1000;
      if (isNaN(d) || d >= 7 * 86400) return;
      if (d < 60) t.textContent = units[0];
      else if (d < 3600) t.textContent = Math.floor(d / 60) + units[1];
      else if (d < 86400) t.textContent = Math.floor(d / 3600) + units[2];
      else t.textContent = Math.floor(d / 86400) + units[3];
    });
  }
  setInterval(refreshTimes, 30000);

  // ---------- presence ----------
  var idleTimer = null;
  function active() {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(function () { send({ t: "away" }); }, 5 * 60 * 1000);
  }
  document.addEventListener("visibilitychange", function () {
    send({ t: document.hidden ? "away" : "active" });
    if (!document.hidden) active();
  });
  ["keydown", "mousedown", "pointermove"].forEach(function (ev) {
    var last = 0;
    document.addEventListener(ev, function () {
      var now = Date.now();
      if (now - last < 20000) return;
      last = now;
      send({ t: "active" });
      active();
    }, { passive: true });
  });

  // ---------- composer ----------
  var lastTyping = 0;
  function composer() { return document.getElementById("composer"); }
  function textArea() { return document.getElementById("reply-text"); }

  function initComposer() {
    var f = composer();
    if (!f || f.dataset.ready) return;
    f.dataset.ready = "1";
    var ta = textArea();
    var key = "draft:" + f.dataset.conv;
    try {
      if (ta && !ta.value && sessionStorage.getItem(key)) ta.value = sessionStorage.getItem(key);
    } catch (e) { /* storage may be off */ }
    syncComposer();
  }

  function syncComposer() {
    var f = composer();
    if (!f) return;
    var mode = (f.querySelector("input[name=mode]:checked") || {}).value || "reply";
    f.classList.toggle("note-mode", mode === "note");
    var sel = document.getElementById("reply-channel");
    var why = document.getElementById("channel-why");
    var warn = document.getElementById("channel-warn");
    var subj = f.querySelector(".subject-row");
    var tpl = document.getElementById("wa-templates");
    if (sel) {
      var opt = sel.options[sel.selectedIndex];
      // WhatsApp outside its 24-hour window takes only approved templates: offer them instead of free text.
      var templatesOnly = !!(opt && opt.hasAttribute("data-templates-only")) && mode !== "note";
      if (tpl) {
        tpl.hidden = !templatesOnly;
        tpl.disabled = !templatesOnly;
      }
      f.classList.toggle("templates-only", templatesOnly);
      if (why) why.textContent = opt ? opt.dataset.reason : "";
      if (warn) { warn.textContent = opt ? opt.dataset.warning : ""; warn.hidden = !(opt && opt.dataset.warning) || mode === "note"; }
      sel.disabled = mode === "note";
      if (subj) subj.hidden = mode === "note" || sel.value !== "email";
    }
    var ta = textArea();
    if (ta) ta.placeholder = mode === "note" ? ta.dataset.notePlaceholder : ta.dataset.replyPlaceholder;
  }

  document.addEventListener("change", function (e) {
    if (e.target.closest("#composer") && (e.target.name === "mode" || e.target.name === "channel")) syncComposer();
    if (e.target.name === "files" && e.target.closest("#composer")) {
      var names = Array.prototype.map.call(e.target.files, function (f) { return f.name; });
      var out = composer().querySelector("[data-files]");
      if (out) out.textContent = names.join(", ");
    }
    if (e.target.classList.contains("pick")) syncBulk();
  });

  document.addEventListener("input", function (e) {
    if (e.target.id !== "reply-text") return;
    var f = composer();
    try { sessionStorage.setItem("draft:" + f.dataset.conv, e.target.value); } catch (err) { /* ignore */ }
    var now = Date.now();
    if (now - lastTyping > 2000 && e.target.value) {
      lastTyping = now;
      // via: the reply's channel, so a widget visitor sees the agent typing; a note has none.
      var mode = f.querySelector('input[name="mode"]:checked');
      var ch = f.querySelector("#reply-channel");
      send({ t: "typing", conv: f.dataset.conv, via: mode && mode.value === "reply" && ch ? ch.value : "" });
    }
    canned(e.target);
  });

  // A sent reply's draft is forgotten before the fresh composer replaces the old one.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var elt = e.detail.elt;
    if (elt && elt.id === "composer" && e.detail.xhr && e.detail.xhr.status < 300) {
      try { sessionStorage.removeItem("draft:" + elt.dataset.conv); } catch (err) { /* ignore */ }
    }
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var elt = e.detail.elt;
    if (!e.detail.successful) return;
    if (elt && elt.id === "bulk-form") {
      document.querySelectorAll("#conv-list .pick:checked").forEach(function (c) { c.checked = false; });
      syncBulk();
    }
  });

  // ---------- canned responses: "/" at the start of a word opens the picker ----------
  var pop = function () { return document.getElementById("canned-pop"); };
  var cannedReq = 0;
  function cannedQuery(ta) {
    var upto = ta.value.slice(0, ta.selectionStart);
    var m = /(^|\s)\/([a-z0-9_-]*)$/.exec(upto);
    return m ? { q: m[2], start: upto.length - m[2].length - 1 } : null;
  }
  function canned(ta) {
    var p = pop();
    if (!p) return;
    var q = cannedQuery(ta);
    if (!q) { p.hidden = true; return; }
    var n = ++cannedReq;
    fetch(ta.dataset.cannedUrl + "&q=" + encodeURIComponent(q.q), { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (n !== cannedReq) return;
        p.innerHTML = html; // server-rendered and escaped by templ
        p.hidden = false;
      });
  }
  function cannedPick(item) {
    var ta = textArea();
    var q = cannedQuery(ta);
    if (!q || !item) return;
    var text = item.dataset.text;
    ta.value = ta.value.slice(0, q.start) + text + ta.value.slice(ta.selectionStart);
    var pos = q.start + text.length;
    ta.setSelectionRange(pos, pos);
    pop().hidden = true;
    ta.focus();
  }
  document.addEventListener("click", function (e) {
    var item = e.target.closest(".canned-item");
    if (item) cannedPick(item);
  });

  // ---------- bulk ----------
  function syncBulk() {
    var form = document.getElementById("bulk-form");
    if (!form) return;
    var n = document.querySelectorAll("#conv-list .pick:checked").length;
    form.hidden = n === 0;
    var c = form.querySelector("[data-bulk-count]");
    if (c) c.textContent = String(n);
  }
  document.addEventListener("click", function (e) {
    if (e.target.closest("[data-bulk-clear]")) {
      document.querySelectorAll("#conv-list .pick:checked").forEach(function (c) { c.checked = false; });
      syncBulk();
    }
    if (e.target.closest("[data-open-help]")) openHelp();
  });

  // ---------- keyboard ----------
  function openHelp() {
    var d = document.getElementById("help");
    if (d && !d.open) d.showModal();
  }
  function move(delta) {
    var rows = Array.prototype.slice.call(document.querySelectorAll("#conv-list .row"));
    if (!rows.length) return;
    var i = rows.findIndex(function (r) { return r.classList.contains("selected"); });
    var next = rows[Math.max(0, Math.min(rows.length - 1, i < 0 ? 0 : i + delta))];
    var link = next.querySelector(".row-link");
    link.focus();
    link.click();
  }
  function setMode(mode) {
    var f = composer();
    if (!f) return;
    var r = f.querySelector('input[name=mode][value="' + mode + '"]');
    if (r && !r.disabled) r.checked = true;
    syncComposer();
    // Focus after this key event is done, so the key itself is not typed into the box.
    setTimeout(function () { var ta = textArea(); if (ta) ta.focus(); }, 0);
  }

  document.addEventListener("keydown", function (e) {
    var t = e.target;
    var typing = t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName);
    var p = pop();
    if (t.id === "reply-text" && p && !p.hidden) {
      var items = Array.prototype.slice.call(p.querySelectorAll(".canned-item"));
      var cur = items.findIndex(function (x) { return x.getAttribute("aria-selected") === "true"; });
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        if (!items.length) return;
        var ni = (cur + (e.key === "ArrowDown" ? 1 : -1) + items.length) % items.length;
        items.forEach(function (x, j) { x.setAttribute("aria-selected", j === ni ? "true" : "false"); });
        t.setAttribute("aria-activedescendant", items[ni].id);
        return;
      }
      if ((e.key === "Enter" || e.key === "Tab") && items.length) {
        e.preventDefault();
        cannedPick(items[Math.max(cur, 0)]);
        return;
      }
      if (e.key === "Escape") { p.hidden = true; return; }
    }
    if (t.id === "reply-text" && e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      htmx.trigger(composer(), "submit");
      return;
    }
    if (e.key === "Escape" && typing) { t.blur(); return; }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    switch (e.key) {
      case "j": e.preventDefault(); move(1); break;
      case "k": e.preventDefault(); move(-1); break;
      case "r": e.preventDefault(); setMode("reply"); break;
      case "n": e.preventDefault(); setMode("note"); break;
      case "e": var b = document.getElementById("resolve-btn"); if (b) { e.preventDefault(); b.click(); } break;
      case "a": var s = document.querySelector(".select-assign"); if (s) { e.preventDefault(); s.focus(); } break;
      case "s":
        var q = document.getElementById("search-q");
        if (q) {
          e.preventDefault();
          setTimeout(function () { q.focus(); q.select(); }, 0); // after this key, so no "s" is typed
        }
        break;
      case "/":
        var ta = textArea();
        if (ta) {
          e.preventDefault();
          setTimeout(function () { openCanned(ta); }, 0);
        }
        break;
      case "?": e.preventDefault(); openHelp(); break;
    }
  });

  function openCanned(ta) {
    ta.focus();
    var at = ta.selectionStart;
    var pre = ta.value.slice(0, at);
    var ins = (pre && !/\s$/.test(pre) ? " " : "") + "/";
    ta.value = pre + ins + ta.value.slice(at);
    ta.setSelectionRange(at + ins.length, at + ins.length);
    canned(ta);
  }

  // ---------- start ----------
  toBottom();
  markSelected();
  hideSelf();
  initComposer();
  dedupeDays();
  active();
  connect();
})();
