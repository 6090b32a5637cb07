/* Serambi chat widget. Embed: <script src="https://HOST/widget.js" data-serambi-inbox="ID" async></script>
   Frame protocol: docs/WIDGET.md. No framework; everything lives in a shadow root so the host page's CSS
   cannot reach it. Visitor text is only ever put in the DOM as text nodes (never as HTML). */
(function () {
  'use strict';
  if (window.Serambi && window.Serambi.v) return;
  var script = document.currentScript || document.querySelector('script[data-serambi-inbox]');
  if (!script) return;
  var INBOX = script.getAttribute('data-serambi-inbox') || 'default';
  var JWT = script.getAttribute('data-serambi-token') || '';
  var LANG = script.getAttribute('data-serambi-lang') || '';
  var base = new URL(script.src, location.href);
  var WSURL = (base.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + base.host + '/widget/ws?inbox=' + encodeURIComponent(INBOX);
  var UPURL = base.origin + '/widget/upload?inbox=' + encodeURIComponent(INBOX);
  var CSS = "__SERAMBI_CSS__";

  var T = {
    en: {
      chat: 'Chat with us', close: 'Close chat', online: "We're online", away: "We're away right now",
      greet: 'Hi there! 👋 How can we help you today?', ph: 'Write a message…', send: 'Send', attach: 'Attach a file',
      typing: '{n} is typing', agent: 'Support', you: 'You', soundOn: 'Sound on', soundOff: 'Sound off',
      awayAsk: "Nobody is online right now. Leave your email and we'll answer you there too.",
      emailPh: 'you@example.com', save: 'Save', replyTo: "We'll reply to {e}", preTitle: 'Before we start',
      preText: 'Tell us a little about you.', name: 'Name', email: 'Email', start: 'Start chat', req: 'Please fill this in.',
      connecting: 'Connecting…', sending: 'Sending…', failed: 'Not sent', uploading: 'Uploading…',
      rate_limited: "You're sending messages quickly. Please wait a moment.", too_long: 'That message is too long.',
      bad_type: "That kind of file can't be sent (images, PDF and text only).", too_large: 'That file is too large.',
      bad_email: "That doesn't look like an email address.", empty: 'Write something first.', err: 'Something went wrong. Please try again.',
      unread: '{n} unread messages', powered: 'Chat by Serambi',
      view: 'View product', track: 'Track package', order: 'Order {n}', low: 'Only a few left', out: 'Sold out', pickup: 'Store pickup',
      st_awaiting_payment: 'Awaiting payment', st_processing: 'Processing', st_cancelled: 'Cancelled', st_refunded: 'Refunded',
      st_partial: 'Partly shipped', st_fulfilled: 'Shipped', st_in_transit: 'In transit', st_out_for_delivery: 'Out for delivery',
      st_delivered: 'Delivered', st_ready_for_pickup: 'Ready for pickup', st_picked_up: 'Picked up', st_failed: 'Payment failed', st_voided: 'Cancelled'
    },
    id: {
      chat: 'Chat dengan kami', close: 'Tutup chat', online: 'Kami sedang online', away: 'Kami sedang tidak di tempat',
      greet: 'Halo! 👋 Ada yang bisa kami bantu hari ini?', ph: 'Tulis pesan…', send: 'Kirim', attach: 'Lampirkan file',
      typing: '{n} sedang mengetik', agent: 'Tim kami', you: 'Anda', soundOn: 'Suara aktif', soundOff: 'Suara mati',
      awayAsk: 'Saat ini tidak ada yang online. Tinggalkan email Anda, kami akan membalas ke sana juga.',
      emailPh: 'anda@contoh.com', save: 'Simpan', replyTo: 'Kami akan membalas ke {e}', preTitle: 'Sebelum mulai',
      preText: 'Ceritakan sedikit tentang Anda.', name: 'Nama', email: 'Email', start: 'Mulai chat', req: 'Wajib diisi.',
      connecting: 'Menghubungkan…', sending: 'Mengirim…', failed: 'Tidak terkirim', uploading: 'Mengunggah…',
      rate_limited: 'Anda mengirim pesan terlalu cepat. Mohon tunggu sebentar.', too_long: 'Pesan terlalu panjang.',
      bad_type: 'Jenis file ini tidak bisa dikirim (hanya gambar, PDF dan teks).', too_large: 'File terlalu besar.',
      bad_email: 'Alamat email tidak valid.', empty: 'Tulis sesuatu dulu.', err: 'Terjadi kesalahan. Silakan coba lagi.',
      unread: '{n} pesan belum dibaca', powered: 'Chat oleh Serambi',
      view: 'Lihat produk', track: 'Lacak paket', order: 'Pesanan {n}', low: 'Stok tinggal sedikit', out: 'Stok habis', pickup: 'Ambil di toko',
      st_awaiting_payment: 'Menunggu pembayaran', st_processing: 'Diproses', st_cancelled: 'Dibatalkan', st_refunded: 'Dana dikembalikan',
      st_partial: 'Dikirim sebagian', st_fulfilled: 'Dikirim', st_in_transit: 'Dalam perjalanan', st_out_for_delivery: 'Sedang diantar',
      st_delivered: 'Diterima', st_ready_for_pickup: 'Siap diambil', st_picked_up: 'Sudah diambil', st_failed: 'Pembayaran gagal', st_voided: 'Dibatalkan'
    }
  };

  // Storage: the visitor token and preferences are shared by the site's tabs (localStorage);
  // unsent messages belong to their tab (sessionStorage).
  function st(kind) {
    var s; try { s = window[kind]; s.setItem('serambi.t', '1'); s.removeItem('serambi.t'); } catch (e) { s = null; }
    var mem = {};
    var p = 'serambi.' + INBOX + '.';
    return {
      get: function (k) { try { return s ? s.getItem(p + k) : mem[k]; } catch (e) { return mem[k]; } },
      set: function (k, v) { try { if (s) s.setItem(p + k, v); else mem[k] = v; } catch (e) { mem[k] = v; } },
      del: function (k) { try { if (s) s.removeItem(p + k); } catch (e) {} delete mem[k]; }
    };
  }
  var LS = st('localStorage'), SS = st('sessionStorage');

  var token = LS.get('token') || '';
  var settings = null, online = false, identified = false, myEmail = '', lang = 'en';
  var msgs = [], byId = {}, byCid = {};
  var pending = [];
  try { pending = JSON.parse(SS.get('pending') || '[]'); } catch (e) { pending = []; }
  var lastSeq = '', readUpTo = LS.get('read') || '', recvd = {};
  var isOpen = SS.get('open') === '1', sound = LS.get('sound') !== '0';
  var ws = null, ready = false, backoff = 500, retryTimer = 0, pingTimer = 0, pongTimer = 0, typingTimer = 0, typingSent = 0;
  var profile = null, agentTypingTimer = 0, audio = null;

  function t(k, v) {
    var s = (T[lang] || T.en)[k] || T.en[k] || k;
    // A function replacement, so that "$&" in a name or an order number is not a pattern.
    if (v) for (var x in v) s = s.replace('{' + x + '}', function () { return String(v[x]); });
    return s;
  }
  function rid() {
    var a = new Uint8Array(12); (window.crypto || window.msCrypto).getRandomValues(a);
    return btoa(String.fromCharCode.apply(null, a)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function svg(path) {
    var s = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    s.setAttribute('viewBox', '0 0 24 24'); s.setAttribute('aria-hidden', 'true');
    var p = document.createElementNS('http://www.w3.org/2000/svg', 'path'); p.setAttribute('d', path); s.appendChild(p);
    return s;
  }
  var I = {
    chat: 'M12 3C6.5 3 2 6.8 2 11.5c0 2.4 1.2 4.6 3.1 6.1L4.3 21l4.1-2.1c1.1.4 2.3.6 3.6.6 5.5 0 10-3.8 10-8.5S17.5 3 12 3z',
    x: 'M18.3 5.7a1 1 0 0 0-1.4 0L12 10.6 7.1 5.7a1 1 0 0 0-1.4 1.4l4.9 4.9-4.9 4.9a1 1 0 1 0 1.4 1.4l4.9-4.9 4.9 4.9a1 1 0 0 0 1.4-1.4L13.4 12l4.9-4.9a1 1 0 0 0 0-1.4z',
    send: 'M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z',
    clip: 'M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9V15.5a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z',
    on: 'M3 9v6h4l5 5V4L7 9H3zm13.5 3A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4zM14 3.2v2.1a7 7 0 0 1 0 13.4v2.1a9 9 0 0 0 0-17.6z',
    off: 'M16.5 12A4.5 4.5 0 0 0 14 8v2.2l2.4 2.4.1-.6zM19 12c0 .9-.2 1.8-.5 2.6l1.5 1.5A8.8 8.8 0 0 0 21 12a9 9 0 0 0-7-8.8v2.1a7 7 0 0 1 5 6.7zM4.3 3 3 4.3 7.7 9H3v6h4l5 5v-6.7l4.3 4.3c-.7.5-1.4.9-2.3 1.2v2.1a9 9 0 0 0 3.7-1.8l2 2 1.3-1.3-9-9L4.3 3zM12 4 9.9 6.1 12 8.2V4z'
  };

  // ---- DOM, inside a shadow root.
  var hostEl = el('div'); hostEl.id = 'serambi-widget';
  var root = hostEl.attachShadow ? hostEl.attachShadow({ mode: 'open' }) : hostEl;
  var style = el('style'); style.textContent = CSS; root.appendChild(style);
  var wrap = el('div', 'sr'); root.appendChild(wrap);
  var panel = el('div', 'panel'); panel.setAttribute('role', 'dialog');
  var header = el('header'), logo = el('div', 'logo'), title = el('div', 'title'), tName = el('b'), status = el('span', 'status');
  status.appendChild(el('i')); var statusText = el('span'); status.appendChild(statusText);
  title.appendChild(tName); title.appendChild(status);
  var bSound = el('button', 'ico snd'); bSound.type = 'button';
  var bClose = el('button', 'ico x'); bClose.type = 'button'; bClose.appendChild(svg(I.x));
  header.appendChild(logo); header.appendChild(title); header.appendChild(bSound); header.appendChild(bClose);
  var body = el('div', 'body'), list = el('div', 'list'); list.setAttribute('aria-live', 'polite'); body.appendChild(list);
  var typing = el('div', 'typing'); var typingText = el('span'); var dots = el('span', 'dots');
  dots.appendChild(el('span')); dots.appendChild(el('span')); dots.appendChild(el('span'));
  typing.appendChild(typingText); typing.appendChild(dots);
  var conn = el('div', 'conn'), notice = el('div', 'notice'); notice.setAttribute('role', 'status');
  var composer = el('form', 'composer');
  var bAttach = el('button', 'ico att'); bAttach.type = 'button'; bAttach.appendChild(svg(I.clip));
  var file = el('input'); file.type = 'file'; file.hidden = true; file.accept = 'image/*,application/pdf,text/plain';
  var input = el('textarea'); input.rows = 1;
  var bSend = el('button', 'send'); bSend.type = 'submit'; bSend.appendChild(svg(I.send));
  composer.appendChild(bAttach); composer.appendChild(input); composer.appendChild(bSend); composer.appendChild(file);
  var foot = el('div', 'foot');
  panel.appendChild(header); panel.appendChild(body); panel.appendChild(typing); panel.appendChild(conn);
  panel.appendChild(notice); panel.appendChild(composer); panel.appendChild(foot);
  var launcher = el('button', 'launcher'); launcher.type = 'button';
  var ic = svg(I.chat); ic.setAttribute('class', 'i-chat'); var ix = svg(I.x); ix.setAttribute('class', 'i-x');
  var badge = el('span', 'badge');
  launcher.appendChild(ic); launcher.appendChild(ix); launcher.appendChild(badge);
  wrap.appendChild(panel); wrap.appendChild(launcher);
  wrap.style.display = 'none'; // until the server said who we are and how to look

  function mount() { if (!hostEl.isConnected) document.body.appendChild(hostEl); }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);

  function applySettings() {
    var s = settings;
    lang = LANG || (s.language !== 'auto' ? s.language : ((navigator.language || 'en').toLowerCase().indexOf('id') === 0 ? 'id' : 'en'));
    wrap.style.setProperty('--c', s.color);
    wrap.style.setProperty('--fg', contrast(s.color));
    wrap.setAttribute('data-pos', s.position);
    tName.textContent = s.name;
    logo.textContent = initials(s.name);
    panel.setAttribute('aria-label', s.name);
    launcher.setAttribute('aria-label', t('chat'));
    bClose.setAttribute('aria-label', t('close'));
    bAttach.setAttribute('aria-label', t('attach')); bAttach.title = t('attach');
    bAttach.style.display = s.uploads ? '' : 'none';
    bSend.setAttribute('aria-label', t('send'));
    input.placeholder = t('ph'); input.setAttribute('aria-label', t('ph'));
    input.maxLength = s.limits.maxChars;
    foot.textContent = t('powered');
    wrap.style.display = '';
  }
  function contrast(hex) {
    var n = parseInt(hex.slice(1), 16), r = n >> 16 & 255, g = n >> 8 & 255, b = n & 255;
    var l = function (c) { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return 0.2126 * l(r) + 0.7152 * l(g) + 0.0722 * l(b) > 0.45 ? '#111827' : '#ffffff';
  }
  function initials(n) {
    var p = String(n || '?').trim().split(/\s+/);
    return ((p[0] || '?').charAt(0) + (p.length > 1 ? p[p.length - 1].charAt(0) : '')).toUpperCase();
  }

  // ---- Rendering.
  function linkify(parent, text) {
    var re = /\bhttps?:\/\/[^\s<>"']+/gi, last = 0, m;
    while ((m = re.exec(text))) {
      var url = m[0].replace(/[.,;:!?)\]]+$/, '');
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      var a = el('a', '', url); a.href = url; a.target = '_blank'; a.rel = 'noopener noreferrer nofollow';
      parent.appendChild(a);
      last = m.index + url.length; re.lastIndex = last;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }
  function fmtTime(iso) {
    var d = new Date(iso);
    return isNaN(d) ? '' : d.toLocaleTimeString(lang === 'id' ? 'id-ID' : 'en-GB', { hour: '2-digit', minute: '2-digit' });
  }
  function attachment(a) {
    if (a.url && /^image\//.test(a.type)) {
      var l = el('a', 'att'); l.href = a.url; l.target = '_blank'; l.rel = 'noopener noreferrer';
      var img = el('img'); img.src = a.url; img.alt = a.name; img.loading = 'lazy'; l.appendChild(img);
      return l;
    }
    var f = el(a.url ? 'a' : 'span', 'file att', '📄 ' + a.name + ' · ' + Math.max(1, Math.round(a.size / 1024)) + ' KB');
    if (a.url) { f.href = a.url; f.target = '_blank'; f.rel = 'noopener noreferrer'; }
    return f;
  }
  // Product and order cards an agent sent. Built from the frame's card with textContent and
  // setAttribute only; links and images only when they are http(s).
  function webURL(u) { return typeof u === 'string' && /^https?:\/\/[^\s"'<>\\]+$/i.test(u) ? u : ''; }
  function money(c) {
    if (c.amount == null || !/^[A-Z]{3}$/.test(c.currency || '')) return c.amountText || '';
    var d = Math.max(0, Math.min(4, c.digits | 0)), v = c.amount / Math.pow(10, d);
    // The rupiah is written without cents (its cash has none), unless there are some.
    var f = c.currency === 'IDR' && c.amount % Math.pow(10, d) === 0 ? 0 : d;
    try {
      return new Intl.NumberFormat(lang === 'id' ? 'id-ID' : 'en-US', { style: 'currency', currency: c.currency, currencyDisplay: 'narrowSymbol',
        minimumFractionDigits: f, maximumFractionDigits: f }).format(v).replace(/\u00a0/g, ' ');
    } catch (e) { return c.amountText || ''; }
  }
  function cardEl(c) {
    var product = c.kind === 'product';
    var box = el('div', product ? 'product-card' : 'order-card');
    if (c.sku) box.setAttribute('data-sku', c.sku);
    var img = product && webURL(c.image);
    if (img) { var im = el('img', 'pc-img'); im.setAttribute('src', img); im.setAttribute('alt', c.name || ''); im.setAttribute('loading', 'lazy'); box.appendChild(im); }
    var inner = el('div', 'pc-body');
    inner.appendChild(el('div', 'pc-name', product ? (c.name || '') : t('order', { n: c.number || '' })));
    if (!product) inner.appendChild(el('div', 'pc-status st-' + String(c.status || '').replace(/[^a-z_]/g, ''), t('st_' + c.status) !== 'st_' + c.status ? t('st_' + c.status) : (c.statusText || c.status || '')));
    var price = money(c);
    if (price) inner.appendChild(el('div', 'pc-price', price));
    if (product && (c.stock === 'low' || c.stock === 'out')) inner.appendChild(el('div', 'pc-stock ' + c.stock, t(c.stock)));
    if (!product && (c.carrier || c.tracking)) inner.appendChild(el('div', 'pc-track', [c.carrier, c.tracking].filter(Boolean).join(' ')));
    if (!product && c.pickup) inner.appendChild(el('div', 'pc-track', t('pickup')));
    var href = webURL(c.url);
    if (href) {
      var a = el('a', 'pc-btn', product ? t('view') : t('track'));
      a.setAttribute('href', href); a.setAttribute('target', '_blank'); a.setAttribute('rel', 'noopener noreferrer');
      inner.appendChild(a);
    }
    box.appendChild(inner);
    return box;
  }
  function render() {
    var atBottom = body.scrollHeight - body.scrollTop - body.clientHeight < 40;
    list.textContent = '';
    if (settings) {
      var g = el('div', 'row a');
      g.appendChild(el('div', 'av', initials(settings.name)));
      var gb = el('div', 'b'); gb.textContent = (lang === 'id' ? settings.greetingId : settings.greetingEn) || t('greet');
      g.appendChild(gb); list.appendChild(g);
    }
    var prev = null;
    msgs.forEach(function (m, idx) {
      if (m.kind === 'email') {
        list.appendChild(el('div', 'sys', '✉️ ' + t('replyTo', { e: m.text.replace(/^\S+\s/, '') })));
        prev = null; return;
      }
      var mine = m.from === 'visitor';
      var who = mine ? 'visitor' : ((m.agent && m.agent.name) || t('agent'));
      var cont = prev && prev.who === who;
      if (!mine && !cont) list.appendChild(el('div', 'who', who));
      var row = el('div', 'row ' + (mine ? 'v' : 'a') + (cont ? ' cont' : '') + (m.local ? ' pending' : '') + (m.failed ? ' failed' : ''));
      row.setAttribute('data-from', m.from);
      if (m.id) row.setAttribute('data-id', m.id);
      if (m.cid) row.setAttribute('data-cid', m.cid);
      if (!mine) {
        var av = el('div', 'av');
        if (m.agent && m.agent.avatar) { var im = el('img'); im.src = m.agent.avatar; im.alt = ''; av.appendChild(im); } else av.textContent = initials(who);
        row.appendChild(av);
      }
      var b = el('div', m.card ? 'b has-card' : 'b');
      if (m.card && (m.card.kind === 'product' || m.card.kind === 'order')) b.appendChild(cardEl(m.card));
      else if (m.text) linkify(b, m.text);
      (m.att || []).forEach(function (a) { b.appendChild(attachment(a)); });
      row.appendChild(b);
      list.appendChild(row);
      prev = { who: who, row: row };
      var next = msgs[idx + 1];
      if (!next || next.from !== m.from || m.local || m.failed) {
        list.appendChild(el('div', 'meta', m.failed ? t('failed') + ' · ' + m.failed : m.local ? t('sending') : fmtTime(m.at)));
      }
    });
    var c = askCard();
    if (c) list.appendChild(c);
    if (atBottom || isOpen) body.scrollTop = body.scrollHeight;
    updateBadge();
  }

  // ---- Pre-chat form and the offline email prompt.
  function needPreChat() {
    return settings && settings.preChat && settings.preChat.enabled && !identified && !LS.get('prechat') && !msgs.length;
  }
  // The cards are built once and kept, so a re-render (a status change) keeps what was typed.
  var preCard = null, mailCard = null;
  function askCard() {
    if (!settings) return null;
    composer.classList.toggle('off', !!needPreChat());
    if (needPreChat()) return preCard || (preCard = preChatCard());
    var hasEmail = myEmail || LS.get('email') || msgs.some(function (m) { return m.kind === 'email'; });
    if (!online && settings.offlineEmail && !hasEmail && msgs.some(function (m) { return m.from === 'visitor'; })) return mailCard || (mailCard = emailCard());
    return null;
  }
  function field(labelText, type, name, required) {
    var l = el('label', '', labelText); var i = el('input'); i.type = type; i.name = name; if (required) i.required = true;
    l.appendChild(i); return l;
  }
  function preChatCard() {
    var p = settings.preChat, f = el('form', 'card pre');
    f.appendChild(el('h3', '', t('preTitle'))); f.appendChild(el('p', '', t('preText')));
    if (p.askName) f.appendChild(field(t('name'), 'text', 'name', false));
    if (p.askEmail) f.appendChild(field(t('email'), 'email', 'email', p.requireEmail));
    (p.fields || []).forEach(function (x) { f.appendChild(field((lang === 'id' && x.labelId) || x.labelEn, 'text', 'f_' + x.key, x.required)); });
    var b = el('button', 'btn', t('start')); b.type = 'submit'; f.appendChild(b);
    f.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var pr = { fields: {} };
      Array.prototype.forEach.call(f.querySelectorAll('input'), function (i) {
        var v = i.value.trim(); if (!v) return;
        if (i.name === 'name') pr.name = v; else if (i.name === 'email') pr.email = v; else pr.fields[i.name.slice(2)] = v;
      });
      profile = pr; if (pr.email) myEmail = pr.email;
      LS.set('prechat', '1'); render(); composer.classList.remove('off'); input.focus();
    });
    return f;
  }
  function emailCard() {
    var f = el('form', 'card ask'); f.appendChild(el('p', '', t('awayAsk')));
    var row = el('div', 'inline'), i = el('input'); i.type = 'email'; i.required = true; i.placeholder = t('emailPh'); i.setAttribute('aria-label', t('email'));
    var b = el('button', 'btn', t('save')); b.type = 'submit'; row.appendChild(i); row.appendChild(b); f.appendChild(row);
    f.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var v = i.value.trim(); if (!v) return;
      myEmail = v; LS.set('email', v);
      queue({ t: 'email', cid: rid(), email: v }, null);
    });
    return f;
  }

  // ---- Messages.
  function seqOf(m) { return m.seq || '~'; } // unsent ones sort last
  function merge(m) {
    if (byId[m.id]) return false;
    if (m.cid && byCid[m.cid]) { var i = msgs.indexOf(byCid[m.cid]); if (i >= 0) msgs.splice(i, 1); }
    byId[m.id] = m; if (m.cid) byCid[m.cid] = m;
    var at = msgs.length;
    while (at > 0 && seqOf(msgs[at - 1]) > m.seq) at--;
    msgs.splice(at, 0, m);
    if (m.seq > lastSeq) lastSeq = m.seq;
    return true;
  }
  function savePending() { SS.set('pending', JSON.stringify(pending)); }
  function queue(frame, local) {
    pending.push(frame); savePending();
    if (local) { msgs.push(local); byCid[local.cid] = local; }
    render();
    if (ready) send(frame);
  }
  function flush() { if (ready) pending.forEach(function (f) { send(f); }); }
  function unpend(cid) {
    pending = pending.filter(function (f) { return f.cid !== cid; }); savePending();
  }
  function sendText(text, att) {
    var cid = rid(), f = { t: 'msg', cid: cid, text: text };
    if (att) f.att = [att];
    if (profile) { f.profile = profile; profile = null; }
    queue(f, { local: true, cid: cid, from: 'visitor', text: text, att: att ? [{ name: att.name, type: att.type, size: att.size }] : null, at: new Date().toISOString() });
    stopTyping(false);
  }

  function markRead() {
    if (!isOpen || document.visibilityState === 'hidden') return;
    var ids = [], top = readUpTo;
    msgs.forEach(function (m) { if (m.from === 'agent' && m.seq && m.seq > readUpTo) { ids.push(m.id); if (m.seq > top) top = m.seq; } });
    if (!ids.length) return;
    readUpTo = top; LS.set('read', top);
    if (ready) send({ t: 'read', ids: ids.slice(-100) });
    updateBadge();
  }
  function updateBadge() {
    var n = 0;
    msgs.forEach(function (m) { if (m.from === 'agent' && m.seq > readUpTo) n++; });
    badge.textContent = n > 9 ? '9+' : String(n);
    badge.classList.toggle('on', n > 0 && !isOpen);
    launcher.setAttribute('aria-label', n && !isOpen ? t('chat') + ' — ' + t('unread', { n: n }) : t('chat'));
  }
  function beep() {
    if (!sound) return;
    try {
      var C = window.AudioContext || window.webkitAudioContext; audio = audio || new C();
      var o = audio.createOscillator(), g = audio.createGain(), n = audio.currentTime;
      o.type = 'sine'; o.frequency.setValueAtTime(880, n); o.frequency.setValueAtTime(1175, n + 0.09);
      g.gain.setValueAtTime(0.0001, n); g.gain.exponentialRampToValueAtTime(0.12, n + 0.01); g.gain.exponentialRampToValueAtTime(0.0001, n + 0.3);
      o.connect(g); g.connect(audio.destination); o.start(n); o.stop(n + 0.32);
    } catch (e) {}
  }
  function showNotice(text, ms) {
    notice.textContent = text; notice.classList.add('on');
    clearTimeout(showNotice.t); showNotice.t = setTimeout(function () { notice.classList.remove('on'); }, ms || 6000);
  }
  function renderStatus() {
    status.classList.toggle('on', online);
    statusText.textContent = online ? t('online') : t('away');
    bSound.textContent = ''; bSound.appendChild(svg(sound ? I.on : I.off));
    bSound.setAttribute('aria-label', sound ? t('soundOn') : t('soundOff')); bSound.title = bSound.getAttribute('aria-label');
    bSound.setAttribute('aria-pressed', String(sound));
  }

  // ---- The socket.
  function send(f) {
    if (ws && ws.readyState === 1) { ws.send(JSON.stringify(f)); return true; }
    return false;
  }
  function connect() {
    clearTimeout(retryTimer);
    if (ws) return;
    var s;
    try { s = new WebSocket(WSURL); } catch (e) { return retry(); }
    ws = s;
    s.onopen = function () {
      var h = { t: 'hello', inbox: INBOX, token: token, since: lastSeq, lang: LANG || navigator.language || '', page: String(location.href).slice(0, 500) };
      if (JWT) h.jwt = JWT;
      s.send(JSON.stringify(h));
    };
    s.onmessage = function (ev) {
      var f; try { f = JSON.parse(ev.data); } catch (e) { return; }
      clearTimeout(pongTimer);
      onFrame(f);
    };
    s.onclose = function (ev) {
      if (ws !== s) return;
      ws = null; ready = false; clearInterval(pingTimer); clearTimeout(pongTimer);
      conn.textContent = t('connecting'); conn.classList.toggle('on', !!settings);
      if (ev.code === 4001) backoff = 200;
      retry();
    };
  }
  var fails = 0;
  function retry() {
    if (++fails === 4 && !settings && window.console) console.warn('Serambi widget: cannot connect to ' + WSURL + ' — is this site (' + location.origin + ') among the widget inbox\'s allowed origins?');
    var d = Math.min(backoff, 30000); backoff = Math.min(backoff * 2, 30000);
    retryTimer = setTimeout(connect, d / 2 + Math.random() * d / 2);
  }
  function reconnectNow() {
    var s = ws; ws = null; ready = false; clearInterval(pingTimer);
    if (s) { s.onclose = null; try { s.close(); } catch (e) {} }
    backoff = 500; connect();
  }

  function onFrame(f) {
    switch (f.t) {
      case 'welcome':
        token = f.token; LS.set('token', token);
        settings = f.settings; online = f.online; identified = f.identified; if (f.email) myEmail = f.email;
        ready = true; backoff = 500; fails = 0; conn.classList.remove('on');
        applySettings(); renderStatus();
        clearInterval(pingTimer);
        pingTimer = setInterval(function () {
          if (send({ t: 'ping' })) { clearTimeout(pongTimer); pongTimer = setTimeout(function () { if (ws) ws.close(); }, 10000); }
        }, 25000);
        break;
      case 'history':
        if (f.reset) {
          msgs = msgs.filter(function (m) { return m.local; }); byId = {}; byCid = {};
          msgs.forEach(function (m) { byCid[m.cid] = m; });
          lastSeq = '';
        }
        f.msgs.forEach(merge);
        render(); receipt(f.msgs); markRead();
        flush();
        break;
      case 'msg':
        if (merge(f)) {
          render(); receipt([f]);
          if (f.from === 'agent') {
            typing.classList.remove('on');
            if (!isOpen || document.visibilityState === 'hidden') beep();
            markRead();
          }
        }
        break;
      case 'ack':
        unpend(f.cid);
        merge(f.msg); render();
        break;
      case 'typing':
        typingText.textContent = t('typing', { n: f.name || t('agent') });
        typing.classList.toggle('on', !!f.on);
        clearTimeout(agentTypingTimer);
        if (f.on) agentTypingTimer = setTimeout(function () { typing.classList.remove('on'); }, 6000);
        break;
      case 'status':
        online = f.online; renderStatus(); render();
        break;
      case 'error':
        onError(f);
        break;
    }
  }
  function receipt(list) {
    var ids = [];
    list.forEach(function (m) { if (m.from === 'agent' && m.seq > readUpTo && !recvd[m.id]) { recvd[m.id] = 1; ids.push(m.id); } });
    if (ids.length) send({ t: 'recv', ids: ids.slice(-100) });
  }
  function onError(f) {
    if (f.code === 'bad_identity') { if (window.console) console.warn('Serambi widget: signed identity refused:', f.message); return; }
    if (f.code === 'retry' || f.code === 'rate_limited') {
      if (f.code === 'rate_limited') showNotice(t('rate_limited'));
      if (f.cid) setTimeout(function () { var p = pending.filter(function (x) { return x.cid === f.cid; })[0]; if (p) send(p); }, Math.max(f.retryMs || 2000, 500));
      return;
    }
    if (f.cid) {
      unpend(f.cid);
      var m = byCid[f.cid];
      if (m && m.local) { m.failed = t(f.code) !== f.code ? t(f.code) : t('err'); render(); }
    }
    showNotice(t(f.code) !== f.code ? t(f.code) : t('err'));
    if (f.code === 'bad_email') { myEmail = ''; LS.del('email'); render(); }
  }

  // ---- Typing and input.
  function stopTyping(tell) {
    clearTimeout(typingTimer);
    if (typingSent && tell) send({ t: 'typing', on: false });
    typingSent = 0;
  }
  input.addEventListener('input', function () {
    input.style.height = 'auto'; input.style.height = Math.min(input.scrollHeight, 120) + 'px';
    bSend.disabled = !input.value.trim();
    if (!input.value.trim()) return stopTyping(true);
    var now = Date.now();
    if (now - typingSent > 3000) { send({ t: 'typing', on: true }); typingSent = now; }
    clearTimeout(typingTimer); typingTimer = setTimeout(function () { stopTyping(true); }, 4000);
  });
  input.addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); submit(); }
  });
  composer.addEventListener('submit', function (ev) { ev.preventDefault(); submit(); });
  function submit() {
    var v = input.value.trim();
    if (!v) return;
    input.value = ''; input.style.height = 'auto'; bSend.disabled = true;
    sendText(v, null);
  }
  bAttach.addEventListener('click', function () { file.click(); });
  file.addEventListener('change', function () {
    var f = file.files && file.files[0]; file.value = '';
    if (!f) return;
    if (settings && f.size > settings.limits.maxUploadBytes) return showNotice(t('too_large'));
    showNotice(t('uploading'), 60000);
    var fd = new FormData(); fd.append('token', token); fd.append('file', f, f.name);
    fetch(UPURL, { method: 'POST', body: fd, mode: 'cors', credentials: 'omit' }).then(function (r) {
      return r.json().then(function (j) { return { ok: r.ok, j: j }; });
    }).then(function (r) {
      notice.classList.remove('on');
      if (!r.ok) return showNotice(t(r.j.code) !== r.j.code ? t(r.j.code) : t('err'));
      var text = input.value.trim(); input.value = ''; bSend.disabled = true;
      sendText(text, r.j);
    }).catch(function () { showNotice(t('err')); });
  });
  function setOpen(o) {
    isOpen = o; SS.set('open', o ? '1' : '');
    wrap.classList.toggle('open', o);
    launcher.setAttribute('aria-expanded', String(o));
    if (o) { markRead(); body.scrollTop = body.scrollHeight; setTimeout(function () { input.focus(); }, 50); }
    updateBadge();
  }
  launcher.addEventListener('click', function () { setOpen(!isOpen); });
  bClose.addEventListener('click', function () { setOpen(false); launcher.focus(); });
  bSound.addEventListener('click', function () { sound = !sound; LS.set('sound', sound ? '1' : '0'); renderStatus(); });
  wrap.addEventListener('keydown', function (ev) { if (ev.key === 'Escape' && isOpen) { setOpen(false); launcher.focus(); } });
  document.addEventListener('visibilitychange', markRead);
  window.addEventListener('online', function () { if (!ws) { backoff = 500; connect(); } });

  // Messages typed in this tab before a reload are shown (and sent) again.
  pending.forEach(function (f) {
    if (f.t === 'msg') { var l = { local: true, cid: f.cid, from: 'visitor', text: f.text, at: new Date().toISOString() }; msgs.push(l); byCid[f.cid] = l; }
  });
  bSend.disabled = true;
  wrap.classList.toggle('open', isOpen);
  connect();

  window.Serambi = {
    v: 1,
    open: function () { setOpen(true); },
    close: function () { setOpen(false); },
    // identify switches to a signed identity (after the shop's login) without a page load.
    identify: function (jwt) { JWT = jwt || ''; msgs = []; byId = {}; byCid = {}; lastSeq = ''; reconnectNow(); },
    // logout forgets this browser's visitor, so the next person at a shared computer starts afresh.
    logout: function () {
      JWT = ''; token = ''; LS.del('token'); LS.del('read'); LS.del('email'); LS.del('prechat');
      readUpTo = ''; myEmail = ''; msgs = []; byId = {}; byCid = {}; lastSeq = ''; pending = []; savePending();
      preCard = mailCard = null; profile = null; reconnectNow();
    }
  };
})();
