// The review station's page: the PIN login, then the technician's dashboard or the model's view,
// depending on whose PIN it was. State comes from GET /api/sessions/<id>; the WebSocket pushes job
// output and tells the page when to refresh, and a slow poll covers a dropped socket.
import { api, describe } from './api.js';
import { $, h, show } from './dom.js';
import { TwinViewer } from './viewer.js';
import { grantSentences } from './grant_text.js';
import { MODEL_BUTTONS, TECHNICIAN_BUTTONS, modelView, technicianView } from './session_state.js';
import { byPlace, rigPlaces } from './rig_places.js';

const state = { me: null, session: '', status: null, studio: null, viewer: null, twinUrl: '',
  socket: null, pollTimer: 0, busy: false };

// ---------------------------------------------------------------- login and live updates

async function start() {
  $('login-form').addEventListener('submit', onLogin);
  $('logout').addEventListener('click', async () => {
    try { await api('POST', '/api/logout'); } catch { /* signed out either way */ }
    location.reload();
  });
  try {
    state.me = await api('GET', '/api/me');
  } catch {
    show('login-page');
    $('pin').focus();
    return;
  }
  enter();
}

async function onLogin(ev) {
  ev.preventDefault();
  $('login-error').textContent = '';
  try {
    state.me = await api('POST', '/api/login', { pin: $('pin').value.trim() });
    $('pin').value = '';
    enter();
  } catch (err) {
    $('login-error').textContent = err.status === 429
      ? `Too many wrong PINs. Wait ${err.retryAfter} s.`
      : describe(err);
  }
}

function enter() {
  $('logout').classList.remove('hidden');
  connect();
  if (state.me.role === 'technician') {
    $('who').textContent = '— technician';
    show('dashboard');
    renderDashboard();
  } else {
    $('who').textContent = '— your twin';
    state.session = state.me.session;
    show('model');
    refresh();
  }
  state.pollTimer = setInterval(refresh, 1500);
}

function connect() {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/ws`);
  state.socket = ws;
  ws.onopen = () => $('live').classList.replace('off', 'on');
  ws.onclose = () => {
    $('live').classList.replace('on', 'off');
    setTimeout(connect, 2000);
  };
  ws.onmessage = (msg) => {
    const ev = JSON.parse(msg.data);
    // A job's JSON report (preflight --json) feeds the tiles; the console shows its table.
    if (ev.type === 'job' && ev.event === 'line' && !ev.line.startsWith('{"')) appendConsole(ev.line);
    if (ev.type === 'job' && ev.event === 'started') appendConsole(`$ ${ev.job.command}`);
    if (ev.type === 'job' && ev.event === 'ended') {
      appendConsole(`— ${ev.job.kind} ${ev.job.ok ? 'done' : `failed (exit ${ev.job.exit_code})`}`);
      refresh();
    }
    if (ev.type === 'state') refresh();
  };
}

function appendConsole(line) {
  const pre = $('console');
  if (!pre) return;
  pre.textContent += `${line}\n`;
  pre.scrollTop = pre.scrollHeight;
}

async function refresh() {
  try {
    if (state.me.role === 'technician') {
      state.studio = await api('GET', '/api/studio');
      renderSessions();
    }
    if (!state.session) {
      if (state.me.role === 'technician') renderNoSession();
      return;
    }
    state.status = await api('GET', `/api/sessions/${state.session}`);
    if (state.me.role === 'technician') renderSession(); else renderModel();
  } catch (err) {
    if (err.status === 401) location.reload();
  }
}

// Runs an action with its button disabled and its result or error shown beside it.
async function act(button, out, fn) {
  if (state.busy) return;
  state.busy = true;
  button.disabled = true;
  out.textContent = '…';
  out.className = 'result';
  try {
    const msg = await fn();
    out.textContent = msg || 'done';
    out.className = 'result ok';
  } catch (err) {
    out.textContent = describe(err);
    out.className = 'result error';
  } finally {
    // Enabled again until the station's state says otherwise (the refresh renders it).
    button.disabled = false;
    state.busy = false;
    await refresh();
  }
}

function field(id, label, attrs = {}) {
  return h('label', { class: 'field' }, label, h('input', { id, ...attrs }));
}

// ---------------------------------------------------------------- technician's dashboard

// The guided sequence: each step is a button, enabled only when the one before it holds (the rules
// are web/src/session_state.js); the next one is highlighted and named.
const STEPS = [
  ['issue-pin', '1', 'Subject PIN', issuePin],
  ['preflight', '2', 'Preflight', () => job('preflight')],
  ['capture', '3', 'Capture', () => job('capture')],
  ['seal', '4', 'Seal capture', seal],
  ['reconstruct', '5', 'Make preview twin', () => job('reconstruct')],
];

function renderDashboard() {
  const d = $('dashboard');
  d.replaceChildren(
    h('div', { class: 'row' },
      h('div', { class: 'panel' },
        h('h2', {}, 'Session'),
        h('p', { class: 'current' }, h('strong', { id: 'session-id' }, '—'), ' ',
          h('span', { id: 'session-subject', class: 'summary' })),
        h('label', { class: 'field' }, 'Subject of a new session', h('select', { id: 'subject' })),
        h('button', { id: 'new-session', onclick: newSession }, 'New session'),
        h('label', { class: 'field' }, 'Open another session', h('select', { id: 'session-select',
          onchange: (e) => openSession(e.target.value) })),
        h('span', { id: 'session-result', class: 'result', role: 'status' })),
      h('div', { class: 'panel wide', id: 'steps-panel' },
        h('h2', {}, 'Steps'),
        h('p', { id: 'state-text', class: 'state-text', role: 'status' }),
        h('div', { class: 'steps' }, ...STEPS.map(([id, n, label, fn]) =>
          h('button', { id, class: 'step', onclick: fn }, h('span', { class: 'n', 'aria-hidden': 'true' }, n), label))),
        h('div', { id: 'progress-box', class: 'progress-box hidden' },
          h('progress', { id: 'progress-bar', max: 100, 'aria-label': 'Progress of the running step' }),
          h('span', { id: 'progress-text' })),
        h('div', { id: 'fix-box', class: 'fix-box hidden', role: 'alert' },
          h('h3', {}, 'What went wrong'),
          h('ul', { id: 'problems', class: 'problems' }),
          h('div', { class: 'buttons' },
            h('button', { id: 'resume', onclick: () => job('resume') }, 'Resume capture'),
            h('button', { id: 'retake', onclick: () => job('retake') }, 'Retake missing'),
            h('button', { id: 'seal-without', class: 'plain', onclick: () => $('without-form').classList.toggle('hidden') },
              'Seal without some cameras…')),
          h('form', { id: 'without-form', class: 'without hidden', onsubmit: acceptMissing },
            h('p', { class: 'hint' }, 'The take is closed without these cameras; the reason goes into the journal '
              + 'and the signed capture seal. The twin is made from the others.'),
            h('div', { id: 'without-cameras', class: 'without-cameras' }),
            field('without-reason', 'Why are their frames missing?', { required: true, minlength: 4 }),
            h('button', { id: 'accept-missing', type: 'submit' }, 'Close the take without them'))),
        h('div', { id: 'pin-box', class: 'pin-box hidden' }, 'Subject PIN ', h('span', { id: 'subject-pin' })),
        h('span', { id: 'flow-result', class: 'result', role: 'status' }),
        h('div', { id: 'progress', class: 'progress' }))),
    h('div', { class: 'panel' },
      h('h2', {}, 'Cameras ', h('span', { id: 'camera-summary', class: 'summary' })),
      h('div', { class: 'buttons view-switch', role: 'group', 'aria-label': 'Camera view' },
        h('button', { id: 'view-tiles', class: 'plain', 'aria-pressed': 'true', onclick: () => cameraView('tiles') }, 'Tiles'),
        h('button', { id: 'view-map', class: 'plain', 'aria-pressed': 'false', onclick: () => cameraView('map') }, 'Rig map')),
      h('div', { id: 'nodes', class: 'nodes' }),
      h('div', { id: 'grid', class: 'grid' }),
      h('div', { id: 'rig-map', class: 'rig-map hidden' })),
    h('div', { class: 'row' },
      h('div', { class: 'panel' },
        h('h2', {}, 'Signatures'),
        field('technician-pass', 'Technician passphrase', { type: 'password', autocomplete: 'off' }),
        field('studio-pass', 'Studio passphrase', { type: 'password', autocomplete: 'off' }),
        h('button', { id: 'countersign', onclick: countersign }, 'Countersign'),
        h('span', { id: 'sign-result', class: 'result', role: 'status' }),
        h('ol', { id: 'records', class: 'records' })),
      grantForm(),
      h('div', { class: 'panel' },
        h('h2', {}, 'Export'),
        field('export-licensee', 'Licensee id'),
        field('export-purpose', 'Purpose'),
        field('export-medium', 'Medium'),
        field('export-territory', 'Territory'),
        field('export-contexts', 'Where it appears (comma-separated, e.g. fashion, e-commerce)'),
        field('export-alterations', 'Alterations made (comma-separated, e.g. background)'),
        h('label', { class: 'check' }, h('input', { id: 'export-generative', type: 'checkbox' }), 'Generative AI is used'),
        h('button', { id: 'export', onclick: exportTwin }, 'Export (studio passphrase)'),
        h('span', { id: 'export-result', class: 'result', role: 'status' }))),
    h('div', { class: 'panel' },
      h('h2', {}, 'Output'),
      h('pre', { id: 'console', class: 'console', tabindex: 0, role: 'log', 'aria-label': 'Output of the running step' })));
  // The open session survives a reload: it is in the address (#session=…) and read back from the station.
  const fromHash = /session=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (fromHash) state.session = fromHash[1];
  refresh();
}

function openSession(id) {
  state.session = id;
  history.replaceState(null, '', id ? `#session=${id}` : '#');
  $('pin-box').classList.add('hidden');
  // What the last session's actions said is not about this one.
  for (const r of document.querySelectorAll('#dashboard .result:not(#session-result)')) {
    r.textContent = '';
    r.className = 'result';
  }
  refresh();
}

// The grant builder: a licence as a form (nothing typed as JSON); the model reads it as sentences.
function grantForm() {
  const today = new Date().toISOString().slice(0, 10);
  const year = new Date(Date.now() + 365 * 86400e3).toISOString().slice(0, 10);
  const check = (id, label, on) => h('label', { class: 'check' }, h('input', { id, type: 'checkbox', checked: on }), label);
  return h('form', { class: 'panel', id: 'grant-form', onsubmit: proposeGrant },
    h('h2', {}, 'Licence to propose'),
    h('div', { class: 'two' },
      field('grant-licensee-name', 'Licensee', { value: 'Brand A', required: true }),
      field('grant-licensee-id', 'Licensee id', { value: 'brand-a', required: true, pattern: '[a-z0-9][a-z0-9-]*' })),
    field('grant-purpose', 'Purpose', { value: 'campaign imagery', required: true }),
    h('div', { class: 'two' },
      field('grant-media', 'Media (comma-separated)', { value: 'social', required: true }),
      field('grant-territory', 'Territory (comma-separated)', { value: 'EU', required: true })),
    h('div', { class: 'two' },
      field('grant-from', 'From', { type: 'date', value: today, required: true }),
      field('grant-to', 'To', { type: 'date', value: year, required: true })),
    h('div', { class: 'three' },
      h('label', { class: 'field' }, 'Currency', h('select', { id: 'grant-currency' },
        ...['EUR', 'GBP', 'USD', 'CHF'].map((c) => h('option', { value: c }, c)))),
      field('grant-fee', 'Fee for making it', { type: 'number', min: 0, step: '0.01', value: '1000' }),
      field('grant-per-use', 'Fee per use', { type: 'number', min: 0, step: '0.01', value: '50' })),
    check('grant-genai', 'They may make new images or video of the model with AI', false),
    check('grant-training', 'The likeness may be used to train AI', false),
    h('button', { id: 'propose-grant', type: 'submit' }, 'Propose licence'),
    h('span', { id: 'grant-result', class: 'result', role: 'status' }));
}

function grantFromForm() {
  const v = (id) => $(id).value.trim();
  const split = (id) => v(id).split(',').map((x) => x.trim()).filter(Boolean);
  const minor = (id) => Math.round(Number(v(id) || 0) * 100);
  const n = (state.status.consent.grants || []).length + 1;
  const grant = {
    grant_id: `g${n}`, licensee: { id: v('grant-licensee-id'), name: v('grant-licensee-name') },
    purpose: v('grant-purpose'), media: split('grant-media'), territory: split('grant-territory'),
    not_before: v('grant-from'), not_after: v('grant-to'), generative_ai: $('grant-genai').checked,
    compensation: { currency: v('grant-currency'), creation_fee_minor: minor('grant-fee'), per_use_minor: minor('grant-per-use') },
  };
  if ($('grant-training').checked) grant.training = { 'cawg.ai_training': 'allowed', 'cawg.ai_generative_training': 'allowed' };
  return grant;
}

function renderSessions() {
  const s = state.studio;
  const subj = $('subject');
  if (subj && subj.options.length !== s.subjects.length) {
    subj.replaceChildren(...s.subjects.map((x) => h('option', { value: x.id }, `${x.id} ${x.name}`)));
  }
  const sel = $('session-select');
  if (sel) {
    const key = s.sessions.map((x) => x.id).join(',');
    if (sel.dataset.key !== key) {
      sel.dataset.key = key;
      sel.replaceChildren(h('option', { value: '' }, '—'),
        ...s.sessions.map((x) => h('option', { value: x.id }, `${x.id} ${x.subject_id}`)));
    }
    sel.value = state.session;
  }
}

async function newSession(ev) {
  await act(ev.target, $('session-result'), async () => {
    const r = await api('POST', '/api/sessions', { subject: $('subject').value });
    openSession(r.session);
    return `session ${r.session} created`;
  });
}

function needSession() {
  if (!state.session) throw new Error('create or open a session first');
  return `/api/sessions/${state.session}`;
}

async function issuePin(ev) {
  await act(ev.currentTarget, $('flow-result'), async () => {
    const r = await api('POST', `${needSession()}/subject-pin`);
    $('subject-pin').textContent = r.pin;
    $('pin-box').classList.remove('hidden');
    return 'the model signs in with this PIN';
  });
}

async function job(kind, body) {
  await act($(kind), $('flow-result'), async () => {
    const r = await api('POST', `${needSession()}/${kind}`, body);
    return `${r.job.command} started`;
  });
}

async function acceptMissing(ev) {
  ev.preventDefault();
  const cameras = [...document.querySelectorAll('#without-cameras input:checked')].map((i) => i.value);
  await job('accept-missing', { cameras, reason: $('without-reason').value.trim() });
  $('without-form').classList.add('hidden');
}

function passphrases() {
  return { technician_passphrase: $('technician-pass').value, studio_passphrase: $('studio-pass').value };
}

async function seal(ev) {
  await act(ev.currentTarget, $('sign-result'), async () => {
    await api('POST', `${needSession()}/seal`, passphrases());
    return 'capture sealed (technician and studio signed)';
  });
}

async function countersign(ev) {
  const label = ev.target.textContent;
  await act(ev.target, $('sign-result'), async () => {
    const r = await api('POST', `${needSession()}/countersign`, passphrases());
    return `${label.replace(/^Countersign/, 'Countersigned')}: signed as ${r.signed.join(' and ')}`
      + `${r.destruction ? '; destruction recorded' : ''}`;
  });
}

async function proposeGrant(ev) {
  ev.preventDefault();
  await act($('propose-grant'), $('grant-result'), async () => {
    await api('POST', `${needSession()}/grants`, { grants: [grantFromForm()] });
    return 'licence proposed: the model reads and signs it on their screen, then countersign';
  });
}

const commaList = (text) => text.split(',').map((t) => t.trim()).filter((t) => t !== '');

async function exportTwin(ev) {
  await act(ev.target, $('export-result'), async () => {
    const r = await api('POST', `${needSession()}/export`, {
      licensee: $('export-licensee').value, purpose: $('export-purpose').value,
      medium: $('export-medium').value, territory: $('export-territory').value,
      // The declared use, checked against the grant's prohibited contexts, permitted alterations and AI terms.
      contexts: commaList($('export-contexts').value),
      alterations: commaList($('export-alterations').value),
      generative: $('export-generative').checked,
      studio_passphrase: $('studio-pass').value,
    });
    return `export ${r.export_id} under grant ${r.grant_id}: ${r.files.length} files in ${r.out}`;
  });
}

function cameraView(which) {
  $('grid').classList.toggle('hidden', which !== 'tiles');
  $('rig-map').classList.toggle('hidden', which !== 'map');
  $('view-tiles').setAttribute('aria-pressed', String(which === 'tiles'));
  $('view-map').setAttribute('aria-pressed', String(which === 'map'));
}

function stateWord(c) {
  return { ready: 'ready', fix: 'needs a fix', missing: 'not found', unknown: 'not checked' }[c.state] || c.state;
}

function cameraTile(c, place) {
  const take = c.takes.length ? c.takes[c.takes.length - 1] : null;
  const chip = (on, label) => h('span', { class: `chip ${on ? 'on' : ''}` }, label);
  const name = place ? place.label : c.serial;
  return h('div', { class: `tile state-${c.state}${c.missed ? ' missed' : ''}`,
    'data-serial': c.serial, 'data-state': c.state },
  h('div', { class: 'place' }, name),
  h('div', { class: 'serial' }, place ? `${c.serial} · ${place.azimuth}° · ${place.height.toFixed(2)} m` : ''),
  c.thumbnail ? h('img', { src: c.thumbnail, alt: `last frame of ${name}` }) : h('div', { class: 'noimg' }),
  h('div', { class: 'facts' },
    h('span', {}, c.missed ? 'frame missing' : stateWord(c)),
    c.battery && c.battery !== '-' ? h('span', {}, `battery ${c.battery}`) : null,
    c.free_frames !== undefined ? h('span', {}, `card ${c.free_frames}`) : null,
    c.settings_match === false ? h('span', {}, 'settings differ') : null),
  take ? h('div', { class: 'chips' }, chip(take.fired, 'fired'), chip(take.verified, 'verified')) : null,
  c.problems && c.problems.length ? h('div', { class: 'problem' }, c.problems.join('; ')) : null);
}

// Top view of the rig: one ring per height, each camera a dot at its column, in its state's colour.
function rigMap(cameras, places) {
  const ns = 'http://www.w3.org/2000/svg';
  const el = (tag, attrs, ...kids) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    e.append(...kids);
    return e;
  };
  const rings = Math.max(1, ...[...places.values()].map((p) => p.ring));
  const svg = el('svg', { viewBox: '-110 -110 220 220', role: 'img',
    'aria-label': `Rig map seen from above: ${cameras.length} cameras, the front at the bottom` });
  for (let r = 1; r <= rings; r += 1) svg.append(el('circle', { cx: 0, cy: 0, r: 30 + (70 * r) / rings, class: 'ring' }));
  svg.append(el('text', { x: 0, y: 4, class: 'label' }, 'model'));
  for (const c of cameras) {
    const p = places.get(c.serial);
    if (!p) continue;
    const rad = 30 + (70 * p.ring) / rings;
    const a = (p.azimuth * Math.PI) / 180;
    const x = rad * Math.sin(a);
    const y = rad * Math.cos(a);
    svg.append(el('g', { class: `dot state-${c.state}${c.missed ? ' missed' : ''}`, 'data-serial': c.serial },
      el('title', {}, `${p.label}: ${c.serial}, ${c.missed ? 'frame missing' : stateWord(c)}`),
      el('circle', { cx: x.toFixed(1), cy: y.toFixed(1), r: 7 }),
      el('text', { x: x.toFixed(1), y: (y + 3).toFixed(1), class: 'n' }, String(p.column))));
  }
  return svg;
}

function renderSession() {
  const s = state.status;
  const view = technicianView(s);
  $('session-id').textContent = s.id;
  const who = (state.studio.subjects || []).find((x) => x.id === s.subject_id);
  $('session-subject').textContent = `for ${s.subject_id}${who ? ` ${who.name}` : ''} · ${s.rig}`;
  // New session goes to the open session's subject unless the technician picks another on purpose.
  if ($('subject').dataset.session !== s.id) {
    $('subject').dataset.session = s.id;
    $('subject').value = s.subject_id;
  }
  $('state-text').textContent = view.text;
  $('state-text').dataset.state = view.state;
  for (const id of TECHNICIAN_BUTTONS) {
    const b = $(id);
    if (!b) continue;
    b.disabled = !view.enabled[id] || state.busy;
    b.classList.toggle('next', view.next === id);
    if (view.next === id) b.setAttribute('aria-describedby', 'state-text'); else b.removeAttribute('aria-describedby');
  }
  $('countersign').textContent = view.countersign;
  const a = s.activity;
  $('progress-box').classList.toggle('hidden', !view.progress);
  if (a && a.running) {
    if (a.percent >= 0) $('progress-bar').value = a.percent; else $('progress-bar').removeAttribute('value');
    $('progress-text').textContent = `${a.kind}: ${view.progress}`;
  }
  const fixing = view.enabled.resume || view.enabled.retake || view.problems.length > 0;
  $('fix-box').classList.toggle('hidden', !fixing);
  $('problems').replaceChildren(...view.problems.map((p) => h('li', {}, p)));
  const missingKey = view.missing.join(',');
  if ($('without-cameras').dataset.key !== missingKey) {
    $('without-cameras').dataset.key = missingKey;
    const places = rigPlaces(s.cameras);
    $('without-cameras').replaceChildren(...view.missing.map((serial) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', value: serial, checked: true }),
      `${places.has(serial) ? `${places.get(serial).label}: ` : ''}${serial}`)));
  }
  renderCameras(s);
  $('records').replaceChildren(...(s.consent.records || []).map((r) => h('li', {
    class: r.complete ? 'complete' : 'pending' },
  `record ${r.seq}: ${r.type}${r.complete ? ' ✓' : ` — awaiting ${r.missing.join(', ')}`}`,
  r.summary ? h('div', { class: 'summary' }, r.summary) : null)));
  const j = s.job;
  $('progress').textContent = s.takes.map((t) => `take ${t.take}: ${t.verified} of ${t.cameras} verified`
    + `${(t.accepted_missing || []).length ? `, ${t.accepted_missing.length} left out` : ''}${t.closed ? '' : ' (open)'}`).join(' · ');
  $('progress').dataset.job = j ? `${j.kind}:${j.running ? 'running' : (j.ok ? 'ok' : 'failed')}` : '';
}

// Before a session is open, the only step is to open one.
function renderNoSession() {
  $('state-text').textContent = 'Choose the subject and start a new session, or open one.';
  $('state-text').dataset.state = 'none';
  for (const id of TECHNICIAN_BUTTONS) {
    if (!$(id)) continue;
    $(id).disabled = id !== 'new-session';
    $(id).classList.toggle('next', id === 'new-session');
  }
}

function renderCameras(s) {
  const places = rigPlaces(s.cameras);
  const cameras = byPlace(s.cameras, places);
  const ready = s.cameras.filter((c) => c.state === 'ready').length;
  $('camera-summary').textContent = `${ready} of ${s.cameras.length} ready`
    + (s.preflight.ran ? (s.preflight.ready ? ' · preflight READY' : ' · preflight NOT READY') : ' · no preflight yet');
  $('grid').replaceChildren(...cameras.map((c) => cameraTile(c, places.get(c.serial))));
  $('rig-map').replaceChildren(rigMap(cameras, places));
  $('nodes').replaceChildren(...s.nodes.map((n) => h('span', {
    class: `node ${n.online ? (n.sync_error_us < 100 ? 'good' : 'fair') : 'bad'}` },
  `node ${n.endpoint} ${n.online ? `sync ±${n.sync_error_us.toFixed(1)} µs` : 'OFFLINE'}`)));
}

// ---------------------------------------------------------------- the model's view

function renderModel() {
  const s = state.status;
  const m = $('model');
  if (!m.dataset.built) {
    m.dataset.built = '1';
    m.replaceChildren(
      h('div', { class: 'panel', id: 'consent-panel' },
        h('h2', {}, 'Your consent'),
        h('p', { id: 'consent-meta', class: 'summary' }),
        h('div', { id: 'consent-text', class: 'consent-prose', lang: 'en' }),
        field('subject-pass', 'Choose a passphrase: you type it for each signature (it is never stored; it unlocks your signing key)',
          { type: 'password', autocomplete: 'new-password' }),
        field('subject-pass2', 'The same passphrase again', { type: 'password', autocomplete: 'new-password' }),
        h('button', { id: 'sign-consent', onclick: signConsent }, 'I have read this and sign'),
        h('span', { id: 'consent-result', class: 'result' })),
      h('div', { class: 'panel', id: 'status-panel' }, h('h2', {}, 'Where things are'),
        h('p', { id: 'model-status', class: 'big', role: 'status' }),
        h('progress', { id: 'model-progress', class: 'hidden', max: 100, 'aria-label': 'How far it is' })),
      h('div', { class: 'panel hidden', id: 'twin-panel' },
        h('h2', {}, 'Your twin'),
        h('div', { id: 'viewer', class: 'viewer' }),
        h('div', { class: 'buttons viewer-buttons' },
          h('button', { id: 'viewer-reset', class: 'plain', onclick: () => state.viewer && state.viewer.reset() },
            'Reset view'),
          h('button', { id: 'viewer-fullscreen', class: 'plain',
            onclick: () => state.viewer && state.viewer.toggleFullscreen() }, 'Full screen')),
        h('p', { class: 'hint' }, 'Drag to turn your twin, pinch or scroll to zoom. '
          + 'With a keyboard: arrow keys turn, + and - zoom, R resets. Tap a photo to see it large.'),
        h('div', { id: 'images', class: 'images' }),
        h('dialog', { id: 'photo', class: 'photo', onclick: (e) => e.target.closest('dialog').close() },
          h('img', { id: 'photo-img', alt: '' }),
          h('p', { id: 'photo-caption' }),
          h('button', { id: 'photo-close', class: 'plain' }, 'Close')),
        h('label', { class: 'field' }, 'A note (optional)', h('input', { id: 'review-note' })),
        h('div', { class: 'buttons' },
          h('button', { id: 'approve', class: 'good', onclick: (e) => review(e, true) }, 'Approve my twin'),
          h('button', { id: 'reject', class: 'bad', onclick: (e) => review(e, false) },
            'Reject: destroy the capture')),
        h('span', { id: 'review-result', class: 'result' })),
      h('div', { class: 'panel hidden', id: 'pending-panel' },
        h('h2', {}, 'Waiting for your signature'),
        h('p', { id: 'pending-summary', class: 'hidden' }),
        h('div', { id: 'pending-terms', class: 'consent-prose' }),
        h('details', {}, h('summary', {}, 'The exact record you sign'),
          h('pre', { id: 'pending-record', class: 'consent-text', tabindex: 0, 'aria-label': 'The record to sign' })),
        h('button', { id: 'sign-pending', onclick: signPending }, 'Sign'),
        h('span', { id: 'pending-result', class: 'result' })),
      h('div', { class: 'panel', id: 'grants-panel' },
        h('h2', {}, 'Who may use your twin'),
        h('ul', { id: 'grants', class: 'grants' }),
        h('span', { id: 'revoke-result', class: 'result' })),
      signDialog());
    loadConsentText();
  }
  const c = s.consent;
  const records = c.records || [];
  const hasConsent = records.length > 0;
  const view = modelView(s);
  $('consent-panel').classList.toggle('signed', hasConsent);
  $('subject-pass2').parentElement.classList.toggle('hidden', hasConsent);
  $('subject-pass').parentElement.classList.toggle('hidden', hasConsent);
  if (hasConsent) $('consent-result').textContent = records[0].complete
    ? 'signed by you, the witness and the studio' : `signed by you; awaiting ${records[0].missing.join(', ')}`;
  // One state machine for both screens (session_state.js): the status line and every button.
  $('model-status').textContent = view.text;
  $('model-status').dataset.twin = c.twin || '';
  $('model-status').dataset.state = view.state;
  for (const id of MODEL_BUTTONS) if ($(id)) $(id).disabled = !view.enabled[id] || state.busy;
  $('model-progress').classList.toggle('hidden', !view.progress);
  if (s.activity && s.activity.percent >= 0) $('model-progress').value = s.activity.percent;
  else $('model-progress').removeAttribute('value');
  $('twin-panel').classList.toggle('hidden', !view.showTwin);
  if (s.twin.preview && state.twinUrl !== s.twin.preview) {
    state.twinUrl = s.twin.preview;
    if (!state.viewer) {
      state.viewer = new TwinViewer($('viewer'));
      document.addEventListener('fullscreenchange', () => {
        $('viewer-fullscreen').textContent = document.fullscreenElement ? 'Exit full screen' : 'Full screen';
      });
    }
    window.twinViewer = state.viewer;
    state.viewer.load(s.twin.preview).catch((err) => { $('review-result').textContent = String(err); });
  }
  const imgKey = s.images.map((i) => i.url).join(',');
  if ($('images').dataset.key !== imgKey) {
    $('images').dataset.key = imgKey;
    $('images').replaceChildren(...s.images.map((i) => h('button', {
      class: 'photo-thumb', 'aria-label': `Photo from camera ${i.serial}, take ${i.take}: show it large`,
      onclick: () => showPhoto(i) }, h('img', { src: i.url, alt: '' }))));
  }
  // A record that waits for the model (a grant to sign).
  const newest = records[records.length - 1];
  const mine = view.pending;
  $('pending-panel').classList.toggle('hidden', !mine);
  if (mine) {
    $('pending-summary').textContent = `${newest.type}: ${newest.summary}`;
    $('pending-record').textContent = c.pending_record || '';
    $('pending-terms').replaceChildren(...pendingGrants(c.pending_record).map((g) =>
      h('div', { class: 'grant-terms', 'data-grant': g.grant_id }, ...grantSentences(g).map((t) => h('p', {}, t)))));
  }
  // Each licence in force as the sentences the model signed: use, pay in money, AI use in words.
  $('grants').replaceChildren(...(c.grants || []).map((g) => h('li', { 'data-grant': g.grant_id },
    h('div', { class: 'grant-terms' }, ...grantSentences(g.terms || g).map((t) => h('p', {}, t))),
    g.revoked ? h('span', { class: 'revoked' }, 'revoked')
      : h('button', { class: 'bad', 'data-revoke': g.grant_id, disabled: !view.enabled.revoke,
        onclick: (e) => revoke(e, g.grant_id) }, 'Revoke'))));
}

// The grants of the record waiting for the model's signature (its exact bytes, as JSON).
function pendingGrants(bytes) {
  try {
    const record = JSON.parse(bytes || '{}');
    return Array.isArray(record.grants) ? record.grants : [];
  } catch {
    return [];
  }
}

async function loadConsentText() {
  const t = await api('GET', `/api/sessions/${state.session}/consent-text`);
  // Shown as prose: a blank line starts a paragraph, a single line break is the file's wrapping and
  // reflows to the screen. The record holds the hash of the exact bytes, whatever the layout.
  const paragraphs = t.text.split(/\n\s*\n/).map((p) => p.replace(/\s*\n\s*/g, ' ').trim()).filter(Boolean);
  $('consent-text').replaceChildren(...paragraphs.map((p, i) => h(i === 0 ? 'h3' : 'p', {}, p)));
  $('consent-text').dataset.sha256 = t.sha256;
  $('consent-meta').textContent = `Version ${t.version} · SHA-256 ${t.sha256} (this exact text goes into your signed record)`;
}

// The passphrase is chosen here, with the consent; it is cleared once used so that no later
// signature can reuse it silently.
async function signConsent(ev) {
  await act(ev.target, $('consent-result'), async () => {
    const passphrase = $('subject-pass').value;
    if (passphrase !== $('subject-pass2').value) throw new Error('the two passphrases differ');
    $('subject-pass').value = '';
    $('subject-pass2').value = '';
    await api('POST', `/api/sessions/${state.session}/consent`,
      { passphrase, text_sha256: $('consent-text').dataset.sha256 });
    return 'signed';
  });
}

// One of the capture's photos, large, in a dialog (Escape, a tap or Close shuts it).
function showPhoto(image) {
  $('photo-img').src = image.url;
  $('photo-img').alt = `Photo from camera ${image.serial}, take ${image.take}`;
  $('photo-caption').textContent = `Camera ${image.serial}, take ${image.take}`;
  $('photo').showModal();
}

// Every signature the model makes is asked for at that moment: the dialog says what signing does
// and takes the passphrase for this one signature (nothing keeps it for the next).
function signDialog() {
  return h('dialog', { id: 'sign-dialog', class: 'sign', 'aria-labelledby': 'sign-title' },
    h('form', { method: 'dialog' },
      h('h2', { id: 'sign-title' }),
      h('p', { id: 'sign-what' }),
      field('sign-pass', 'Your passphrase', { type: 'password', autocomplete: 'current-password' }),
      h('p', { class: 'hint' }, 'Forgotten it? Nobody can recover it, the studio included: that is what '
        + 'keeps your signature yours. Do not sign now; tell the technician.'),
      h('div', { class: 'buttons' },
        h('button', { id: 'sign-cancel', class: 'plain', value: 'cancel' }, 'Cancel'),
        h('button', { id: 'sign-ok', value: 'ok' }))));
}

function askToSign({ title, what, confirm, danger = false }) {
  const dialog = $('sign-dialog');
  $('sign-title').textContent = title;
  $('sign-what').textContent = what;
  $('sign-pass').value = '';
  $('sign-ok').textContent = confirm;
  $('sign-ok').className = danger ? 'bad' : 'good';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const passphrase = $('sign-pass').value;
      $('sign-pass').value = '';
      resolve(dialog.returnValue === 'ok' && passphrase ? passphrase : null);
    }, { once: true });
    dialog.returnValue = '';
    dialog.showModal();
    $('sign-pass').focus();
  });
}

async function review(ev, approve) {
  const passphrase = await askToSign(approve
    ? { title: 'Approve your twin', confirm: 'Approve and sign',
      what: 'You sign that this twin is you and may be kept. Nobody may use it until you sign a licence.' }
    : { title: 'Reject your twin', confirm: 'Reject and destroy', danger: true,
      what: 'The photographs and the twin are destroyed now and cannot be recovered; the studio '
        + 'records the destruction. A new scan would need a new session and your consent again.' });
  if (!passphrase) return;
  await act(ev.target, $('review-result'), async () => {
    const r = await api('POST', `/api/sessions/${state.session}/review`,
      { approve, note: $('review-note').value, passphrase });
    return approve ? 'you approved and signed your twin' : `rejected; ${r.files_destroyed} files destroyed`;
  });
}

async function signPending(ev) {
  const passphrase = await askToSign({ title: 'Sign this licence', confirm: 'Sign',
    what: `${[...$('pending-terms').querySelectorAll('p')].map((p) => p.textContent).join(' ')} `
      + 'You can revoke it later.' });
  if (!passphrase) return;
  await act(ev.target, $('pending-result'), async () => {
    await api('POST', `/api/sessions/${state.session}/sign`, { passphrase });
    return 'signed';
  });
}

async function revoke(ev, grant) {
  const passphrase = await askToSign({ title: 'Revoke this licence', confirm: 'Revoke', danger: true,
    what: `From now on your twin may not be used under licence ${grant}: every export under it is refused and `
      + 'licensees are told through the studio\'s signed revocation list. Uses already made stay on record.' });
  if (!passphrase) return;
  await act(ev.target, $('revoke-result'), async () => {
    await api('POST', `/api/sessions/${state.session}/revoke`, { grant_id: grant, passphrase });
    return `grant ${grant} revoked`;
  });
}

start();
