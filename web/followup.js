// Follow-up on the control-room page (docs/control-room.md): accept a hit or reject it with a
// reason, record the outcome of an accepted one, and show what every control-room page of every
// instance recorded (the event stream's `disposition` and `outcome` events), and escalations.
// control-room.js calls Followup.decorate(card, hit) for each hit card it builds and
// Followup.onEvent(type, record) for the stream's ack, disposition, outcome and escalation
// events; Followup.pending(hit_id) says whether an acknowledged hit still waits for something
// (accepted without an outcome, or escalated and not yet acknowledged).
'use strict';
window.Followup = (() => {
  let codes = null;            // GET /api/v1/followup/codes
  const state = new Map();     // hit_id -> {ack, disposition, outcome, escalation} records
  const cards = new Map();     // hit_id -> card element
  let audio = null;

  const label = (code) => String(code || '').replace(/_/g, ' ');
  // 24-hour local time with the date and the zone, so nobody has to guess.
  // The same form as the card's times (control-room.js): "2026-12-06 19:01:02 CET".
  const TIME = new Intl.DateTimeFormat('en-GB', { year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'short' });
  const when = (ts) => {
    const d = new Date(ts);
    if (isNaN(d)) return '';
    const p = Object.fromEntries(TIME.formatToParts(d).map((x) => [x.type, x.value]));
    return p.year + '-' + p.month + '-' + p.day + ' ' + p.hour + ':' + p.minute + ':' + p.second + ' ' + p.timeZoneName;
  };
  const of = (id) => { if (!state.has(id)) state.set(id, {}); return state.get(id); };
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const option = (value, text) => { const o = el('option', '', text); o.value = value; return o; };

  async function loadCodes() {
    try {
      const res = await Auth.api('/api/v1/followup/codes');
      if (res.ok) codes = await res.json();
    } catch (e) { /* the pickers stay empty; the next card tries again */ }
    for (const id of cards.keys()) draw(id);
  }

  // The follow-up block of a card: badges, then the buttons and pickers that still apply.
  function decorate(card, hit) {
    cards.set(hit.hit_id, card);
    card.dataset.priority = hit.priority;
    let box = card.querySelector('.followup');  // the card's slot for it (web/index.html)
    if (!box) {
      box = el('div', 'followup');
      (card.querySelector('.act') || card).appendChild(box);
    }
    if (!box.querySelector('.fu-badges')) box.append(el('div', 'fu-badges'), el('div', 'fu-actions'));
    if (codes === null) { codes = false; loadCodes(); }
    draw(hit.hit_id);
  }

  // A code picker (reasons, outcomes) with its empty first choice, and the note beside it.
  function picker(cls, aria, placeholder, choices) {
    const pick = el('select', cls);
    pick.setAttribute('aria-label', aria);
    pick.appendChild(option('', placeholder));
    for (const c of choices) pick.appendChild(option(c, label(c)));
    return pick;
  }
  function noteInput() {
    const note = el('input', 'fu-note');
    note.type = 'text';
    note.maxLength = 500;  // the API's bound on a note
    note.placeholder = 'note';
    note.setAttribute('aria-label', 'note');
    return note;
  }

  function draw(id) {
    const card = cards.get(id);
    if (!card) return;
    const s = of(id);
    const badges = card.querySelector('.fu-badges');
    const actions = card.querySelector('.fu-actions');
    badges.textContent = '';
    actions.textContent = '';
    const escalated = !!s.escalation && !s.ack && !s.disposition;
    card.classList.toggle('escalated', escalated);
    card.classList.toggle('accepted', !!s.disposition && s.disposition.disposition === 'accepted');
    card.classList.toggle('rejected', !!s.disposition && s.disposition.disposition === 'rejected');
    card.classList.toggle('fu-done', !!s.outcome);
    if (s.escalation) {
      const b = el('span', 'badge fu-escalated', escalated ? 'ESCALATED: not acknowledged in time' : 'was escalated');
      b.title = 'escalated at ' + when(s.escalation.escalated_at);
      badges.appendChild(b);
    }
    if (s.disposition) {
      const d = s.disposition;
      const text = d.disposition === 'accepted' ? 'accepted' : 'rejected: ' + label(d.reason);
      badges.appendChild(el('span', 'badge fu-' + d.disposition, text));
      badges.appendChild(el('div', 'fu-by', 'by ' + d.by + ', ' + when(d.ts) + (d.note ? ' · “' + d.note + '”' : '')));
    }
    if (s.outcome) {
      badges.appendChild(el('span', 'badge fu-outcome', 'outcome: ' + label(s.outcome.outcome)));
      badges.appendChild(el('div', 'fu-by', 'by ' + s.outcome.by + ', ' + when(s.outcome.ts) + (s.outcome.note ? ' · “' + s.outcome.note + '”' : '')));
    }
    if (!codes) return;
    if (!s.disposition) {
      const accept = el('button', 'fu-accept', 'Accept');
      accept.type = 'button';
      accept.title = 'Accept: the hit will be followed up';
      accept.addEventListener('click', () => send(id, 'disposition', { disposition: 'accepted' }, accept));
      const reason = picker('fu-reason', 'reason for rejecting', 'reason…', codes.reject_reasons);
      const note = noteInput();
      const reject = el('button', 'fu-reject', 'Reject');
      reject.type = 'button';
      reject.addEventListener('click', () => {
        if (!reason.value) { reason.focus(); return say(card, 'Choose a reason to reject.'); }
        if (codes.note_required.includes(reason.value) && !note.value.trim()) {
          note.focus();
          return say(card, 'The reason “' + label(reason.value) + '” needs a note.');
        }
        const body = { disposition: 'rejected', reason: reason.value };
        if (note.value.trim()) body.note = note.value.trim();
        send(id, 'disposition', body, reject);
      });
      actions.append(accept, el('span', 'fu-or', 'or'), reason, note, reject);
    } else if (s.disposition.disposition === 'accepted' && !s.outcome) {
      const pick = picker('fu-outcome-code', 'outcome', 'outcome…', codes.outcomes);
      const note = noteInput();
      const record = el('button', 'fu-record', 'Record outcome');
      record.type = 'button';
      record.addEventListener('click', () => {
        if (!pick.value) { pick.focus(); return say(card, 'Choose an outcome.'); }
        const body = { outcome: pick.value };
        if (note.value.trim()) body.note = note.value.trim();
        send(id, 'outcome', body, record);
      });
      actions.append(pick, note, record);
    }
    actions.appendChild(el('div', 'fu-msg error'));
  }

  function say(card, text) {
    const m = card.querySelector('.fu-msg');
    if (m) m.textContent = text;
  }

  async function send(id, what, body, button) {
    button.disabled = true;
    try {
      const res = await Auth.api('/api/v1/hits/' + id + '/' + what, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
      const answer = await res.json().catch(() => ({}));
      if (res.ok) {
        if (window.anprControlRoom && window.anprControlRoom.event) window.anprControlRoom.event(what, answer);
        else onEvent(what, answer);
      } else {
        say(cards.get(id), 'Not recorded: ' + (answer.detail || 'HTTP ' + res.status));
      }
    } catch (e) {
      say(cards.get(id), 'Not recorded: the processor did not answer.');
    } finally { button.disabled = false; }
  }

  // A short two-note tone (WebAudio, no sound file). Browsers play it once the page has had a
  // click or key press.
  function tone() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const t = audio.currentTime;
      for (const [f, at] of [[880, 0], [660, 0.18]]) {
        const o = audio.createOscillator(), g = audio.createGain();
        o.frequency.value = f;
        g.gain.setValueAtTime(0.2, t + at);
        g.gain.exponentialRampToValueAtTime(0.001, t + at + 0.16);
        o.connect(g).connect(audio.destination);
        o.start(t + at);
        o.stop(t + at + 0.17);
      }
    } catch (e) { /* no audio on this device */ }
  }

  function onEvent(type, record) {
    if (!record || typeof record.hit_id !== 'string') return;
    const s = of(record.hit_id);
    if (type === 'ack') s.ack = s.ack || record;
    else if (type === 'disposition') s.disposition = s.disposition || record;
    else if (type === 'outcome') s.outcome = s.outcome || record;
    else if (type === 'escalation') {
      if (s.escalation) return;
      s.escalation = record;
      if (codes && codes.escalation_sound && !s.ack && !s.disposition) tone();
    } else return;
    draw(record.hit_id);
  }

  // Whether an acknowledged hit still needs something from the room (so it stays in view).
  function pending(id) {
    const s = state.get(id);
    return !!s && !!s.disposition && s.disposition.disposition === 'accepted' && !s.outcome;
  }
  function escalated(id) {
    const s = state.get(id);
    return !!s && !!s.escalation && !s.ack && !s.disposition;
  }
  function forget(id) { state.delete(id); cards.delete(id); }

  return { decorate, onEvent, pending, escalated, forget };
})();
