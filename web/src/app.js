// The review station's page: the PIN login, then the technician's dashboard or the model's view,
// depending on whose PIN it was. State comes from GET /api/sessions/<id>; the WebSocket pushes job
// output and tells the page when to refresh, and a slow poll covers a dropped socket.
import { api, describe } from './api.js';
import { $, h, show } from './dom.js';
import { TwinViewer } from './viewer.js';
import { grantSentences } from './grant_text.js';

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
    if (!state.session) return;
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
    button.disabled = false;
    state.busy = false;
    refresh();
  }
}

function field(id, label, attrs = {}) {
  return h('label', { class: 'field' }, label, h('input', { id, ...attrs }));
}

// ---------------------------------------------------------------- technician's dashboard

function renderDashboard() {
  const d = $('dashboard');
  d.replaceChildren(
    h('div', { class: 'row' },
      h('div', { class: 'panel' },
        h('h2', {}, 'Session'),
        h('label', { class: 'field' }, 'Subject', h('select', { id: 'subject' })),
        h('button', { id: 'new-session', onclick: newSession }, 'New session'),
        h('label', { class: 'field' }, 'Open session', h('select', { id: 'session-select',
          onchange: (e) => { state.session = e.target.value; refresh(); } })),
        h('p', {}, 'Current: ', h('strong', { id: 'session-id' }, '—')),
        h('span', { id: 'session-result', class: 'result' })),
      h('div', { class: 'panel' },
        h('h2', {}, 'Flow'),
        h('div', { class: 'buttons' },
          h('button', { id: 'issue-pin', onclick: issuePin }, 'Subject PIN'),
          h('button', { id: 'preflight', onclick: () => job('preflight') }, 'Preflight'),
          h('button', { id: 'capture', onclick: () => job('capture') }, 'Capture'),
          h('button', { id: 'retake', onclick: () => job('retake') }, 'Retake missing'),
          h('button', { id: 'seal', onclick: seal }, 'Seal capture'),
          h('button', { id: 'reconstruct', onclick: () => job('reconstruct') }, 'Reconstruct preview')),
        h('div', { id: 'pin-box', class: 'pin-box hidden' }, 'Subject PIN ',
          h('span', { id: 'subject-pin' })),
        h('span', { id: 'flow-result', class: 'result' }),
        h('div', { id: 'progress', class: 'progress' })),
      h('div', { class: 'panel' },
        h('h2', {}, 'Signatures'),
        field('technician-pass', 'Technician passphrase', { type: 'password', autocomplete: 'off' }),
        field('studio-pass', 'Studio passphrase', { type: 'password', autocomplete: 'off' }),
        h('button', { id: 'countersign', onclick: countersign }, 'Countersign'),
        h('span', { id: 'sign-result', class: 'result' }),
        h('ol', { id: 'records', class: 'records' }))),
    h('div', { class: 'panel' },
      h('h2', {}, 'Cameras ', h('span', { id: 'camera-summary', class: 'summary' })),
      h('div', { id: 'nodes', class: 'nodes' }),
      h('div', { id: 'grid', class: 'grid' })),
    h('div', { class: 'row' },
      h('div', { class: 'panel' },
        h('h2', {}, 'Grant'),
        h('textarea', { id: 'grant-json', rows: 9, spellcheck: 'false', 'aria-label': 'Grants to propose (JSON)' }),
        h('button', { id: 'propose-grant', onclick: proposeGrant }, 'Propose grant'),
        h('span', { id: 'grant-result', class: 'result' })),
      h('div', { class: 'panel' },
        h('h2', {}, 'Export'),
        field('export-licensee', 'Licensee id'),
        field('export-purpose', 'Purpose'),
        field('export-medium', 'Medium'),
        field('export-territory', 'Territory'),
        h('button', { id: 'export', onclick: exportTwin }, 'Export (studio passphrase)'),
        h('span', { id: 'export-result', class: 'result' })),
      h('div', { class: 'panel wide' },
        h('h2', {}, 'Output'),
        h('pre', { id: 'console', class: 'console', tabindex: 0, role: 'log', 'aria-label': 'Output of the running step' }))));
  const today = new Date();
  const next = new Date(today.getTime() + 365 * 86400e3);
  $('grant-json').value = JSON.stringify([{
    grant_id: 'g1', licensee: { id: 'brand-a', name: 'Brand A' }, purpose: 'campaign imagery',
    media: ['social'], territory: ['EU'], not_before: today.toISOString().slice(0, 10),
    not_after: next.toISOString().slice(0, 10), generative_ai: false,
    compensation: { currency: 'EUR', creation_fee_minor: 100000, per_use_minor: 5000 },
  }], null, 1);
  refresh();
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
    state.session = r.session;
    $('pin-box').classList.add('hidden');
    return `session ${r.session} created`;
  });
}

function needSession() {
  if (!state.session) throw new Error('create or open a session first');
  return `/api/sessions/${state.session}`;
}

async function issuePin(ev) {
  await act(ev.target, $('flow-result'), async () => {
    const r = await api('POST', `${needSession()}/subject-pin`);
    $('subject-pin').textContent = r.pin;
    $('pin-box').classList.remove('hidden');
    return 'the model signs in with this PIN';
  });
}

async function job(kind) {
  await act($(kind), $('flow-result'), async () => {
    const r = await api('POST', `${needSession()}/${kind}`);
    return `${r.job.command} started`;
  });
}

function passphrases() {
  return { technician_passphrase: $('technician-pass').value, studio_passphrase: $('studio-pass').value };
}

async function seal(ev) {
  await act(ev.target, $('sign-result'), async () => {
    await api('POST', `${needSession()}/seal`, passphrases());
    return 'capture sealed (technician and studio signed)';
  });
}

async function countersign(ev) {
  await act(ev.target, $('sign-result'), async () => {
    const r = await api('POST', `${needSession()}/countersign`, passphrases());
    return `signed as ${r.signed.join(' and ')}${r.destruction ? '; destruction recorded' : ''}`;
  });
}

async function proposeGrant(ev) {
  await act(ev.target, $('grant-result'), async () => {
    let grants;
    try { grants = JSON.parse($('grant-json').value); } catch (e) { throw new Error(`not JSON: ${e.message}`); }
    await api('POST', `${needSession()}/grants`, { grants });
    return 'grant proposed: the model signs it on their screen, then countersign';
  });
}

async function exportTwin(ev) {
  await act(ev.target, $('export-result'), async () => {
    const r = await api('POST', `${needSession()}/export`, {
      licensee: $('export-licensee').value, purpose: $('export-purpose').value,
      medium: $('export-medium').value, territory: $('export-territory').value,
      studio_passphrase: $('studio-pass').value,
    });
    return `export ${r.export_id} under grant ${r.grant_id}: ${r.files.length} files in ${r.out}`;
  });
}

function renderSession() {
  const s = state.status;
  $('session-id').textContent = s.id;
  // Camera tiles: big state colours; a camera that missed the newest take flashes.
  const ready = s.cameras.filter((c) => c.state === 'ready').length;
  $('camera-summary').textContent = `${ready} of ${s.cameras.length} ready`
    + (s.preflight.ran ? (s.preflight.ready ? ' · preflight READY' : ' · preflight NOT READY') : '');
  $('grid').replaceChildren(...s.cameras.map((c) => {
    const take = c.takes.length ? c.takes[c.takes.length - 1] : null;
    const chip = (on, label) => h('span', { class: `chip ${on ? 'on' : ''}` }, label);
    return h('div', { class: `tile state-${c.state}${c.missed ? ' missed' : ''}`,
      'data-serial': c.serial, 'data-state': c.state },
    h('div', { class: 'serial' }, c.serial),
    c.thumbnail ? h('img', { src: c.thumbnail, alt: `last frame of ${c.serial}` }) : h('div', { class: 'noimg' }),
    h('div', { class: 'facts' },
      h('span', {}, c.state === 'unknown' ? 'not checked' : c.state),
      c.battery ? h('span', {}, `🔋 ${c.battery}`) : null,
      c.free_frames !== undefined ? h('span', {}, `card ${c.free_frames}`) : null,
      c.settings_match !== undefined ? h('span', {}, c.settings_match ? 'settings ✓' : 'settings ✗') : null),
    take ? h('div', { class: 'chips' }, `take ${take.take} `, chip(take.fired, 'fired'),
      chip(take.downloaded, 'downloaded'), chip(take.verified, 'verified')) : null,
    c.problems && c.problems.length ? h('div', { class: 'problem' }, c.problems.join('; ')) : null);
  }));
  $('nodes').replaceChildren(...s.nodes.map((n) => h('span', {
    class: `node ${n.online ? (n.sync_error_us < 100 ? 'good' : 'fair') : 'bad'}` },
  `node ${n.endpoint} ${n.online ? `sync ±${n.sync_error_us.toFixed(1)} µs` : 'OFFLINE'}`)));
  $('records').replaceChildren(...(s.consent.records || []).map((r) => h('li', {
    class: r.complete ? 'complete' : 'pending' },
  `${r.type}${r.complete ? ' ✓' : ` — awaiting ${r.missing.join(', ')}`}`,
  r.summary ? h('div', { class: 'summary' }, r.summary) : null)));
  const takes = s.takes.map((t) => `take ${t.take}: ${t.verified}/${t.cameras} verified${t.closed ? '' : ' (open)'}`);
  const j = s.job;
  $('progress').textContent = [
    j ? `${j.kind}: ${j.running ? 'running' : (j.ok ? 'done' : `failed (exit ${j.exit_code})`)}` : '',
    ...takes, s.twin.preview ? 'preview twin ready' : '', `consent: ${s.consent.consented ? 'signed' : 'not yet'}`,
    `twin: ${s.consent.twin || '—'}`].filter(Boolean).join(' · ');
  $('progress').dataset.job = j ? `${j.kind}:${j.running ? 'running' : (j.ok ? 'ok' : 'failed')}` : '';
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
        h('p', { id: 'model-status', class: 'big' })),
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
  $('consent-panel').classList.toggle('signed', hasConsent);
  $('sign-consent').disabled = hasConsent;
  $('subject-pass2').parentElement.classList.toggle('hidden', hasConsent);
  if (hasConsent) $('consent-result').textContent = records[0].complete
    ? 'signed by you, the witness and the studio' : `signed by you; awaiting ${records[0].missing.join(', ')}`;
  let where = 'Read the consent and sign it.';
  if (hasConsent && !c.consented) where = 'Thank you. The technician and the studio countersign.';
  if (c.consented && !s.takes.length) where = 'Consent complete. The capture comes next.';
  if (s.takes.length && !s.twin.preview) where = 'Captured. Your preview twin is being made.';
  if (s.twin.preview && c.twin === 'not reviewed') where = 'Your preview twin is ready: look at it, then approve or reject.';
  if (c.twin === 'approved') where = 'You approved your twin.';
  if (c.twin === 'rejected') where = 'You rejected the twin; the capture was destroyed.';
  if (c.destroyed) where = 'You rejected the twin; the capture was destroyed and that is recorded.';
  $('model-status').textContent = where;
  $('model-status').dataset.twin = c.twin || '';

  const reviewable = Boolean(s.twin.preview) && c.twin === 'not reviewed' && c.sealed;
  $('twin-panel').classList.toggle('hidden', !s.twin.preview);
  $('approve').disabled = !reviewable;
  $('reject').disabled = !reviewable;
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
  const mine = newest && !newest.complete && newest.missing.includes('subject') && newest.type !== 'consent';
  $('pending-panel').classList.toggle('hidden', !mine);
  if (mine) {
    $('pending-summary').textContent = `${newest.type}: ${newest.summary}`;
    $('pending-record').textContent = c.pending_record || '';
    $('pending-terms').replaceChildren(...pendingGrants(c.pending_record).map((g) =>
      h('div', { class: 'grant-terms', 'data-grant': g.grant_id }, ...grantSentences(g).map((t) => h('p', {}, t)))));
  }
  $('grants').replaceChildren(...(c.grants || []).map((g) => h('li', { 'data-grant': g.grant_id },
    h('strong', {}, g.licensee), ` — ${g.purpose}; ${g.media.join(', ')}; ${g.territory.join(', ')}; `
      + `${g.not_before} to ${g.not_after} `,
    g.revoked ? h('span', { class: 'revoked' }, 'revoked')
      : h('button', { class: 'bad', 'data-revoke': g.grant_id, onclick: (e) => revoke(e, g.grant_id) }, 'Revoke'))));
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
