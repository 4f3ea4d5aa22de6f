// The session state machine of the review station (web/src/session_state.js): a station report for
// every state, and for each what both screens say and which buttons they enable.
//   node session_state.test.mjs --source DIR
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const at = process.argv.indexOf('--source');
const source = at > 0 ? process.argv[at + 1] : process.cwd();
const { STATES, TECHNICIAN_BUTTONS, MODEL_BUTTONS, sessionState, technicianView, modelView, timeLeft } =
  await import(pathToFileURL(join(source, 'web/src/session_state.js')).href);

// A station report (host/review/api.cc SessionStatus) built up step by step.
function report(steps = {}) {
  const records = [];
  const add = (type, missing = []) => records.push({ seq: records.length + 1, type, complete: !missing.length, missing });
  const s = {
    takes: [], twin: {}, preflight: { ran: false, ready: false },
    consent: { records, consented: false, sealed: false, twin: 'not reviewed', destroyed: false, grants: [], pending: false },
  };
  if (steps.consent) add('consent', steps.consent === 'signed' ? [] : ['technician', 'studio']);
  s.consent.consented = steps.consent === 'signed';
  if (steps.preflight) s.preflight = { ran: true, ready: steps.preflight === 'ready' };
  if (steps.takes) s.takes = steps.takes;
  if (steps.activity) s.activity = { percent: -1, seconds_left: -1, stage: '', problems: [], ...steps.activity };
  if (steps.sealed) { add('capture_seal'); s.consent.sealed = true; }
  if (steps.preview) s.twin.preview = '/api/sessions/S-1/twin/preview/twin.glb';
  if (steps.twin) {
    add(steps.twin === 'approved' ? 'twin_approval' : 'twin_rejection', steps.twinCountersigned ? [] : ['studio']);
    // As the station reports it: the chain's effective state changes once the studio countersigned.
    if (steps.twinCountersigned) s.consent.twin = steps.twin;
  }
  if (steps.destroyed) { add('destruction'); s.consent.destroyed = true; }
  if (steps.grantPending) { add('grant', ['subject', 'studio']); s.consent.pending = true; }
  if (steps.grants) {
    add('grant');
    s.consent.grants = steps.grants;
  }
  if (steps.grantCountersign) { add('grant', ['studio']); s.consent.pending = true; }
  return s;
}

const take = (verified, cameras, extra = {}) => ({ take: 1, cameras, verified, closed: true, missing: [], ...extra });
const full = [take(8, 8)];
const g1 = { grant_id: 'g1', revoked: false };

// Each state: the report, what the technician reads and may press (the highlighted next step
// among them), what the model reads and may press.
const cases = {
  awaiting_consent: { r: report(), tech: /reads and signs the consent/, next: 'issue-pin',
    techOn: ['new-session', 'issue-pin', 'preflight'], model: /Read the consent/, modelOn: ['sign-consent'] },
  consent_countersign: { r: report({ consent: 'subject' }), tech: /Countersign the consent/, next: 'countersign',
    techOn: ['new-session', 'issue-pin', 'preflight', 'countersign'], model: /technician and the studio countersign/, modelOn: [] },
  consented: { r: report({ consent: 'signed', preflight: 'not ready' }), tech: /Run the preflight until it says READY/,
    next: 'preflight', techOn: ['new-session', 'issue-pin', 'preflight'], model: /capture comes next/, modelOn: [] },
  capturing: { r: report({ consent: 'signed', preflight: 'ready', activity: { kind: 'capture', running: true, stage: 'firing and downloading', percent: 40, seconds_left: 12 } }),
    tech: /Capturing: firing and downloading · 40% · about 10 s left/, next: '', techOn: ['issue-pin'],
    model: /taking your photos \(firing and downloading · 40%/, modelOn: [] },
  capture_failed: { r: report({ consent: 'signed', preflight: 'ready', takes: [take(0, 8, { closed: false, missing: ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'] })], activity: { kind: 'capture', running: false, ok: false, problems: ['camera A: no events'] } }),
    tech: /delivered no frame/, next: 'resume', techOn: ['new-session', 'issue-pin', 'preflight', 'resume', 'retake', 'seal-without'],
    model: /did not deliver your photos/, modelOn: [] },
  partial: { r: report({ consent: 'signed', preflight: 'ready', takes: [take(7, 8, { missing: ['TR0008'] })], activity: { kind: 'capture', running: false, ok: false } }),
    tech: /1 camera is missing \(TR0008\)/, next: 'retake', techOn: ['new-session', 'issue-pin', 'preflight', 'retake', 'seal-without'],
    model: /Some cameras did not deliver/, modelOn: [] },
  captured: { r: report({ consent: 'signed', preflight: 'ready', takes: full, activity: { kind: 'retake', running: false, ok: true } }),
    tech: /seal the capture/, next: 'seal', techOn: ['new-session', 'issue-pin', 'seal'], model: /seals your photos next/, modelOn: [] },
  sealed: { r: report({ consent: 'signed', takes: full, sealed: true }), tech: /Make the preview twin/, next: 'reconstruct',
    techOn: ['new-session', 'issue-pin', 'reconstruct'], model: /preview twin is made next/, modelOn: [] },
  reconstructing: { r: report({ consent: 'signed', takes: full, sealed: true, activity: { kind: 'reconstruct', running: true, stage: 'depth', percent: 40, seconds_left: 150 } }),
    tech: /Making the preview twin: depth · 40% · about 3 min left/, next: '', techOn: ['issue-pin'],
    model: /being made: depth · 40% · about 3 min left/, modelOn: [] },
  reconstruct_failed: { r: report({ consent: 'signed', takes: full, sealed: true, activity: { kind: 'reconstruct', running: false, ok: false } }),
    tech: /preview twin failed/, next: 'reconstruct', techOn: ['new-session', 'issue-pin', 'reconstruct'],
    model: /failed; the technician starts it again/, modelOn: [] },
  ready: { r: report({ consent: 'signed', takes: full, sealed: true, preview: true }), tech: /the model reviews it/, next: '',
    techOn: ['new-session', 'issue-pin'], model: /approve or reject/, modelOn: ['approve', 'reject'] },
  approved: { r: report({ consent: 'signed', takes: full, sealed: true, preview: true, twin: 'approved' }),
    tech: /Countersign the approval/, next: 'countersign', techOn: ['new-session', 'issue-pin', 'countersign', 'propose-grant'],
    model: /You approved your twin. Nobody may use it/, modelOn: [] },
  rejected: { r: report({ consent: 'signed', takes: full, sealed: true, twin: 'rejected' }),
    tech: /Countersign to record the destruction/, next: 'countersign', techOn: ['new-session', 'countersign'],
    model: /photos and the twin were deleted/, modelOn: [] },
  destroyed: { r: report({ consent: 'signed', takes: full, sealed: true, twin: 'rejected', twinCountersigned: true, destroyed: true }),
    tech: /Start a new session/, next: 'new-session', techOn: ['new-session'], model: /destroyed and that is recorded/, modelOn: [] },
  granted: { r: report({ consent: 'signed', takes: full, sealed: true, preview: true, twin: 'approved', twinCountersigned: true, grants: [g1] }),
    tech: /may be exported/, next: 'export', techOn: ['new-session', 'issue-pin', 'propose-grant', 'export'],
    model: /only under the licences below/, modelOn: ['revoke'] },
  revoked: { r: report({ consent: 'signed', takes: full, sealed: true, preview: true, twin: 'approved', twinCountersigned: true, grants: [{ ...g1, revoked: true }] }),
    tech: /Every licence was revoked/, next: 'propose-grant', techOn: ['new-session', 'issue-pin', 'propose-grant'],
    model: /nobody may use your twin/, modelOn: [] },
};

let failures = 0;
function check(name, fn) {
  try {
    fn();
    console.log(`ok: ${name}`);
  } catch (err) {
    failures += 1;
    console.error(`FAIL: ${name}\n  ${err.message.split('\n').join('\n  ')}`);
  }
}

const on = (view, all) => all.filter((b) => view.enabled[b]).sort();

check('every state has a case and every case is a state', () => {
  assert.deepEqual(Object.keys(cases).sort(), [...STATES].sort());
});
for (const [state, c] of Object.entries(cases)) {
  check(`${state}: both screens`, () => {
    assert.equal(sessionState(c.r), state, 'state');
    const t = technicianView(c.r);
    assert.match(t.text, c.tech, 'technician text');
    assert.equal(t.next, c.next, 'the step highlighted next');
    assert.deepEqual(on(t, TECHNICIAN_BUTTONS), [...c.techOn].sort(), 'technician buttons enabled');
    if (t.next) assert.ok(t.enabled[t.next], 'the next step is enabled');
    const m = modelView(c.r);
    assert.equal(m.state, state);
    assert.match(m.text, c.model, 'model text');
    assert.deepEqual(on(m, MODEL_BUTTONS), [...c.modelOn].sort(), 'model buttons enabled');
  });
}

check('guard rails: no capture before a READY preflight, no seal over a missing camera', () => {
  assert.equal(technicianView(report({ consent: 'signed' })).enabled.capture, false);
  assert.equal(technicianView(report({ consent: 'signed', preflight: 'not ready' })).enabled.capture, false);
  assert.equal(technicianView(report({ consent: 'signed', preflight: 'ready' })).enabled.capture, true);
  assert.equal(technicianView(report({ consent: 'subject', preflight: 'ready' })).enabled.capture, false);
  assert.equal(technicianView(cases.partial.r).enabled.seal, false);
  const accepted = report({ consent: 'signed', takes: [take(7, 8, { accepted_missing: [{ serial: 'TR0008', reason: 'lens' }] })] });
  assert.equal(sessionState(accepted), 'captured', 'a camera accepted as missing with a reason lets the seal go on');
});

check('a licence waiting for the model: the technician waits, the model signs', () => {
  const r = report({ consent: 'signed', takes: full, sealed: true, preview: true, twin: 'approved', twinCountersigned: true, grantPending: true });
  const t = technicianView(r);
  assert.match(t.text, /waits for the model's signature/);
  assert.equal(t.enabled.countersign, false);
  assert.equal(t.enabled['propose-grant'], false);
  const m = modelView(r);
  assert.ok(m.enabled['sign-pending']);
  assert.match(m.text, /A licence waits for your signature/);
});

check('the countersign button names the record it signs', () => {
  assert.equal(technicianView(cases.consent_countersign.r).countersign,
    'Countersign the consent (record 1) as technician and studio');
  assert.equal(technicianView(cases.approved.r).countersign, 'Countersign the approval (record 3) as studio');
  const r = report({ consent: 'signed', takes: full, sealed: true, preview: true, twin: 'approved', twinCountersigned: true, grants: [g1], grantCountersign: true });
  assert.equal(technicianView(r).countersign, 'Countersign the licence (record 5) as studio');
});

check('time left in words', () => {
  assert.equal(timeLeft(-1), '');
  assert.equal(timeLeft(3), 'about 5 s left');
  assert.equal(timeLeft(42), 'about 40 s left');
  assert.equal(timeLeft(200), 'about 3 min left');
});

if (failures) {
  console.error(`${failures} failed`);
  process.exit(1);
}
console.log('PASSED');
