// iginbox agent console. Plain JavaScript, no build step, no third-party code: it talks to
// /api/* with the session cookie and polls with If-None-Match, so an unchanged list or
// conversation costs a 304 and no re-render.
'use strict';
(function () {
  const POLL_MS = 3000;
  const CHANNELS_POLL_MS = 30000;
  const MAX_TEXT = 1000;
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  };
  const state = {
    me: null, channels: [], channel: '', status: 'open', convs: [], conv: null,
    messages: new Map(), order: [], tailCursor: '', etags: new Map(), timer: 0, chTimer: 0,
  };

  function notice(text) {
    const n = $('notice');
    n.textContent = text;
    n.hidden = false;
    clearTimeout(notice.t);
    notice.t = setTimeout(() => { n.hidden = true; }, 6000);
  }

  // api calls /api with the cookie; with etagKey it sends If-None-Match and returns null on 304.
  async function api(method, path, body, etagKey) {
    const headers = { 'Accept': 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method === 'POST' && path.endsWith('/messages')) headers['Idempotency-Key'] = crypto.randomUUID();
    const prev = etagKey && state.etags.get(etagKey);
    if (prev) headers['If-None-Match'] = prev.etag;
    const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' });
    if (r.status === 304 && prev) return null;
    if (r.status === 401 && path !== '/api/session') { signedOut(); throw new Error('signed out'); }
    const data = r.status === 204 ? {} : await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = new Error((data.error && data.error.message) || ('HTTP ' + r.status));
      err.status = r.status; err.code = data.error && data.error.code;
      throw err;
    }
    if (etagKey && r.headers.get('ETag')) state.etags.set(etagKey, { etag: r.headers.get('ETag') });
    return data;
  }

  const fmtTime = (iso) => {
    if (!iso) return '';
    const d = new Date(iso);
    const today = new Date().toDateString() === d.toDateString();
    return today ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
      : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  };

  // ---------------------------------------------------------------- sign in / out
  async function start() {
    outcomeFromURL();
    try {
      state.me = await api('GET', '/api/session');
      signedIn();
    } catch (e) {
      signedOut();
    }
  }

  function outcomeFromURL() {
    const q = new URLSearchParams(location.search);
    if (q.has('connected')) notice('Instagram account ' + q.get('connected') + ' connected.');
    else if (q.has('error_type')) notice('Connecting failed: ' + (q.get('error_message') || q.get('error_type')));
    if (location.search) history.replaceState(null, '', '/');
  }

  function signedOut() {
    clearTimeout(state.timer); clearTimeout(state.chTimer);
    state.me = null; state.conv = null; state.etags.clear();
    $('app').hidden = true; $('signin').hidden = false;
    $('key').value = '';
    $('key').focus();
  }

  function signedIn() {
    $('signin').hidden = true; $('app').hidden = false;
    $('who').textContent = state.me.name + (state.me.admin ? ' (admin)' : '');
    loadChannels().then(() => poll());
  }

  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('signin-error').textContent = '';
    try {
      state.me = await api('POST', '/api/session', { key: $('key').value.trim() });
      $('key').value = '';
      signedIn();
    } catch (e) {
      $('signin-error').textContent = e.status === 401 ? 'This key is not valid.' : e.message;
    }
  });

  $('signout').addEventListener('click', async () => {
    try { await api('DELETE', '/api/session'); } catch (e) { /* signed out anyway */ }
    signedOut();
  });

  // ---------------------------------------------------------------- channels
  async function loadChannels() {
    clearTimeout(state.chTimer);
    try {
      const data = await api('GET', '/api/channels', undefined, 'channels');
      if (data) { state.channels = data.channels || []; renderChannels(); }
    } catch (e) { if (!state.me) return; }
    state.chTimer = setTimeout(loadChannels, CHANNELS_POLL_MS);
  }

  const disconnected = (c) => c.disconnected === true || c.status === 'disconnected';

  function renderChannels() {
    const sel = $('channel');
    const keep = sel.value;
    sel.replaceChildren(el('option', '', 'All channels'));
    sel.firstChild.value = '';
    for (const c of state.channels) {
      const o = el('option', '', '@' + (c.username || c.id));
      o.value = c.id;
      sel.append(o);
    }
    sel.value = state.channels.some((c) => c.id === keep) ? keep : '';
    state.channel = sel.value;
    const banners = $('banners');
    banners.replaceChildren();
    for (const c of state.channels) {
      if (disconnected(c)) banners.append(el('div', 'banner bad', '@' + (c.username || c.id) + ' is disconnected: its messages are no longer received. Connect it again under Channels.'));
      else if (c.reauth_required) banners.append(el('div', 'banner', '@' + (c.username || c.id) + ' needs to be re-connected (' + (c.reauth_reason || 'token expired') + '). Use Channels → Connect.'));
    }
    const box = $('channels');
    box.replaceChildren();
    for (const c of state.channels) {
      const row = el('div', 'ch');
      row.append(el('strong', '', '@' + (c.username || c.id)), el('span', 'muted', c.name || ''));
      const exp = c.token_expires_at ? 'token expires ' + new Date(c.token_expires_at).toLocaleDateString() : '';
      row.append(el('span', disconnected(c) || c.reauth_required ? 'error' : 'muted', disconnected(c) ? 'disconnected' : c.reauth_required ? 'reconnect needed' : exp));
      const lock = el('label', '');
      const cb = el('input');
      cb.type = 'checkbox'; cb.checked = !!c.lock_to_single_conversation;
      cb.addEventListener('change', async () => {
        try { await api('PATCH', '/api/channels/' + encodeURIComponent(c.id), { lock_to_single_conversation: cb.checked }); state.etags.delete('channels'); }
        catch (e) { cb.checked = !cb.checked; notice(e.message); }
      });
      lock.append(cb, document.createTextNode(' lock to single conversation'));
      row.append(lock);
      box.append(row);
    }
    if (!state.me.channels || state.me.channels.length === 0) {
      const b = el('button', '', 'Connect an Instagram account');
      b.type = 'button';
      b.addEventListener('click', async () => {
        try { const r = await api('POST', '/api/channels/connect', {}); location.assign(r.url); }
        catch (e) { notice(e.message); }
      });
      box.append(b);
    }
    if (state.channels.length === 0) box.prepend(el('p', 'muted', 'No channel is connected.'));
  }

  $('channels-btn').addEventListener('click', () => {
    const box = $('channels');
    box.hidden = !box.hidden;
    $('channels-btn').setAttribute('aria-expanded', String(!box.hidden));
  });
  $('channel').addEventListener('change', () => { state.channel = $('channel').value; closeConversation(); poll(); });
  $('status').addEventListener('change', () => { state.status = $('status').value; closeConversation(); poll(); });

  // ---------------------------------------------------------------- polling
  async function poll() {
    clearTimeout(state.timer);
    if (!state.me) return;
    try {
      await loadConversations();
      if (state.conv) await loadMessages();
    } catch (e) {
      if (!state.me) return;
    }
    state.timer = setTimeout(poll, POLL_MS);
  }

  async function loadConversations() {
    const q = new URLSearchParams({ status: state.status, limit: '50' });
    if (state.channel) q.set('channel_id', state.channel);
    const data = await api('GET', '/api/conversations?' + q, undefined, 'list?' + q);
    if (!data) return;
    state.convs = data.conversations || [];
    renderConversations();
  }

  function preview(c) {
    const m = c.last_message;
    if (!m) return '';
    const kind = m.deleted ? 'deleted message' : m.text ? m.text : (m.attachment ? '[' + m.attachment + ']' : 'message');
    return (m.direction === 'outgoing' ? 'You: ' : '') + kind;
  }

  function renderConversations() {
    const ul = $('convs');
    const have = new Map([...ul.children].map((li) => [li.dataset.id, li]));
    const keep = new Set();
    let prev = null;
    for (const c of state.convs) {
      keep.add(c.id);
      let li = have.get(c.id);
      const sig = JSON.stringify([c.contact, c.last_message, c.unread_count, c.last_activity_at, state.conv && state.conv.id === c.id]);
      if (!li) { li = el('li'); li.dataset.id = c.id; }
      if (li.dataset.sig !== sig) {
        li.dataset.sig = sig;
        const b = el('button', 'conv');
        b.type = 'button';
        b.setAttribute('aria-current', String(!!(state.conv && state.conv.id === c.id)));
        const who = c.contact.name || c.contact.username || c.contact.igsid;
        b.append(el('span', 'name', who + (c.contact.username && c.contact.name ? ' @' + c.contact.username : '')), el('span', 'time', fmtTime(c.last_activity_at)));
        b.append(el('span', 'preview', preview(c)));
        if (c.unread_count > 0) b.append(el('span', 'unread', String(c.unread_count)));
        b.addEventListener('click', () => openConversation(c.id));
        li.replaceChildren(b);
      }
      if (li !== (prev ? prev.nextSibling : ul.firstChild)) ul.insertBefore(li, prev ? prev.nextSibling : ul.firstChild);
      prev = li;
    }
    for (const [id, li] of have) if (!keep.has(id)) li.remove();
    $('empty').hidden = state.convs.length > 0;
    if (state.conv) {
      const c = state.convs.find((x) => x.id === state.conv.id);
      if (c) { state.conv = c; renderHead(); }
    }
  }

  // ---------------------------------------------------------------- a conversation
  function closeConversation() {
    state.conv = null;
    $('thread').hidden = true;
    $('app').classList.remove('open');
  }

  async function openConversation(id) {
    const c = state.convs.find((x) => x.id === id);
    if (!c) return;
    state.conv = c; state.messages = new Map(); state.order = []; state.tailCursor = '';
    for (const k of [...state.etags.keys()]) if (k.startsWith('msgs:')) state.etags.delete(k);
    $('messages').replaceChildren();
    $('thread').hidden = false;
    $('app').classList.add('open');
    renderHead(); renderConversations();
    $('text').focus();
    await loadMessages(true);
    if (c.unread_count > 0) api('POST', '/api/conversations/' + id + '/read', {}).catch(() => {});
  }

  $('back').addEventListener('click', closeConversation);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && state.conv && window.innerWidth <= 700) closeConversation(); });

  function renderHead() {
    const c = state.conv;
    $('contact-name').textContent = c.contact.name || c.contact.igsid;
    $('contact-user').textContent = c.contact.username ? '@' + c.contact.username : '';
    $('resolve').textContent = c.status === 'open' ? 'Resolve' : 'Reopen';
    const by = c.status_changed_by ? ' by ' + c.status_changed_by.name : '';
    $('resolve').title = c.status_changed_at ? (c.status === 'open' ? 'Reopened' : 'Resolved') + by + ' ' + fmtTime(c.status_changed_at) : '';
    renderWindow();
  }

  function renderWindow() {
    const note = $('window-note');
    const last = state.conv.last_incoming_at ? Date.parse(state.conv.last_incoming_at) : 0;
    const age = Date.now() - last;
    const day = 864e5;
    let text = '', bad = false;
    // Advisory only: the customer may have written since in another of their conversations
    // (a reopened older one), which the API counts; it refuses a reply outside the window.
    if (!last) { text = 'The customer has not written in this conversation: Instagram allows a reply only within 7 days of their last message.'; bad = true; }
    else if (age > 7 * day) { text = 'The customer last wrote here more than 7 days ago: unless they wrote since in another conversation, Instagram does not allow a reply until they write again.'; bad = true; }
    else if (age > day) text = 'More than 24 hours since the customer wrote: this reply goes out as a human-agent message (allowed for 7 days, only for replies written by a person).';
    note.textContent = text;
    note.className = 'note' + (bad ? ' bad' : '');
  }

  async function loadMessages(initial) {
    const id = state.conv.id;
    for (let i = 0; i < 50; i++) {
      const q = new URLSearchParams({ limit: '200' });
      if (state.tailCursor) q.set('cursor', state.tailCursor);
      const data = await api('GET', '/api/conversations/' + id + '/messages?' + q, undefined, 'msgs:' + id + ':' + state.tailCursor);
      if (!state.conv || state.conv.id !== id) return;
      if (!data) break;
      for (const m of data.messages || []) merge(m);
      if (!data.next_cursor) break;
      state.tailCursor = data.next_cursor;
    }
    renderMessages(initial);
  }

  function merge(m) {
    if (!state.messages.has(m.id)) state.order.push(m.id);
    state.messages.set(m.id, m);
  }

  function renderMessages(initial) {
    const ol = $('messages');
    const atBottom = initial || ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
    const sorted = state.order.map((id) => state.messages.get(id)).sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : (a.mid || '') < (b.mid || '') ? -1 : 1));
    const have = new Map([...ol.children].map((li) => [li.dataset.id, li]));
    let prev = null;
    for (const m of sorted) {
      let li = have.get(m.id);
      const sig = JSON.stringify(m);
      if (!li) { li = el('li'); li.dataset.id = m.id; }
      if (li.dataset.sig !== sig) { li.dataset.sig = sig; renderMessage(li, m); }
      if (li !== (prev ? prev.nextSibling : ol.firstChild)) ol.insertBefore(li, prev ? prev.nextSibling : ol.firstChild);
      prev = li;
    }
    if (atBottom) ol.scrollTop = ol.scrollHeight;
  }

  function link(url, text) {
    const a = el('a', '', text);
    a.href = url; a.target = '_blank'; a.rel = 'noopener noreferrer';
    return a;
  }

  const ATT_LABEL = { story_mention: 'Mentioned you in their story', ig_reel: 'Shared a reel', reel: 'Shared a reel', share: 'Shared a post', ig_post: 'Shared a post', ig_story: 'Shared a story', file: 'File', fallback: 'Link', template: 'Shared content' };

  function attachment(a) {
    const box = el('span');
    if (a.type === 'image' && a.url) {
      const img = el('img');
      img.src = a.url; img.alt = 'image'; img.loading = 'lazy'; img.referrerPolicy = 'no-referrer';
      box.append(img);
    } else if (a.type === 'video' && a.url) {
      const v = el('video');
      v.src = a.url; v.controls = true; v.preload = 'none';
      box.append(v);
    } else if (a.type === 'audio' && a.url) {
      const v = el('audio');
      v.src = a.url; v.controls = true; v.preload = 'none';
      box.append(v);
    } else {
      const label = ATT_LABEL[a.type] || ('Attachment (' + a.type + ')');
      box.append(el('span', 'tag', label));
      if (a.url) box.append(link(a.url, a.type === 'file' ? 'download' : 'open'));
    }
    return box;
  }

  function renderMessage(li, m) {
    li.className = 'msg ' + m.direction;
    li.replaceChildren();
    if (m.reply_to) {
      let q = 'Replying to a message';
      if (m.reply_to.story_id || m.reply_to.story_url) q = 'Replied to your story';
      else if (m.reply_to.mid) {
        const orig = [...state.messages.values()].find((x) => x.mid === m.reply_to.mid);
        if (orig) q = '↪ ' + (orig.deleted ? 'deleted message' : (orig.text || (orig.attachments[0] ? orig.attachments[0].type : 'message')));
      }
      const quote = el('span', 'quote', q);
      if (m.reply_to.story_url) quote.append(' ', link(m.reply_to.story_url, 'story'));
      li.append(quote);
    }
    if (m.deleted) li.append(el('span', 'ph', 'This message was deleted.'));
    else {
      if (m.unsupported) li.append(el('span', 'ph', 'Unsupported message: open Instagram to see it.'));
      if (m.postback) li.append(el('span', 'tag', 'button'));
      if (m.quick_reply) li.append(el('span', 'tag', 'quick reply'));
      if (m.referral) li.append(el('span', 'tag', 'via ' + (m.referral.source || 'referral') + (m.referral.ref ? ' ' + m.referral.ref : '')));
      if (m.text) li.append(document.createTextNode(m.text));
      for (const a of m.attachments || []) li.append(attachment(a));
    }
    if (m.reactions && m.reactions.length) li.append(el('span', 'reacts', m.reactions.map((r) => r.emoji || r.reaction).join(' ')));
    const meta = el('span', 'meta');
    meta.append(fmtTime(m.timestamp));
    if (m.edits && m.edits.length) {
      const e = el('span', '', ' · edited');
      e.title = 'Earlier: ' + m.edits.map((x) => x.text).join(' | ');
      meta.append(e);
    }
    if (m.direction === 'outgoing') {
      meta.append(' · ' + (m.sent_by ? m.sent_by.name : m.echo ? 'Instagram app' : ''));
      const st = el('span', 'st-' + m.status, ' · ' + m.status);
      st.dataset.status = m.status;
      if (m.status === 'failed' && m.error) st.textContent += ': ' + m.error.message + (m.error.code ? ' (' + m.error.code + ')' : '');
      meta.append(st);
    }
    li.append(meta);
  }

  // ---------------------------------------------------------------- reply
  const enc = new TextEncoder();
  function countText() {
    const n = enc.encode($('text').value).length;
    $('counter').textContent = n + ' / ' + MAX_TEXT;
    $('counter').title = 'Instagram counts UTF-8 bytes';
    $('counter').classList.toggle('over', n > MAX_TEXT);
  }
  $('text').addEventListener('input', countText);
  $('text').addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) $('reply').requestSubmit(); });

  $('add-att').addEventListener('click', () => {
    const row = el('div', 'att');
    const sel = el('select');
    sel.setAttribute('aria-label', 'Attachment type');
    for (const t of ['image', 'video', 'audio', 'file']) { const o = el('option', '', t); o.value = t; sel.append(o); }
    const url = el('input');
    url.type = 'url'; url.placeholder = 'https://…'; url.setAttribute('aria-label', 'Attachment URL');
    const rm = el('button', '', '×');
    rm.type = 'button'; rm.setAttribute('aria-label', 'Remove attachment');
    rm.addEventListener('click', () => row.remove());
    row.append(sel, url, rm);
    $('atts').append(row);
    url.focus();
  });

  $('reply').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = $('text').value;
    const attachments = [...$('atts').children].map((r) => ({ type: r.children[0].value, url: r.children[1].value.trim() })).filter((a) => a.url);
    $('reply-error').textContent = '';
    if (!text.trim() && attachments.length === 0) return;
    if (enc.encode(text).length > MAX_TEXT) { $('reply-error').textContent = 'The text is longer than Instagram allows.'; return; }
    $('send').disabled = true;
    try {
      const r = await api('POST', '/api/conversations/' + state.conv.id + '/messages', { text, attachments });
      $('text').value = ''; $('atts').replaceChildren(); countText();
      for (const m of r.messages || []) merge(m);
      renderMessages(true);
      poll();
    } catch (e) {
      $('reply-error').textContent = e.message;
    } finally {
      $('send').disabled = false;
      renderWindow();
    }
  });

  $('resolve').addEventListener('click', async () => {
    const next = state.conv.status === 'open' ? 'resolved' : 'open';
    try {
      state.conv = await api('POST', '/api/conversations/' + state.conv.id + '/status', { status: next });
      notice(next === 'resolved' ? 'Conversation resolved.' : 'Conversation reopened.');
      renderHead();
      poll();
    } catch (e) { notice(e.message); }
  });

  start();
})();
