// The one state machine of a session, for both screens. Everything here is derived from what the
// station reports (GET /api/sessions/<id>: consent chain, takes, twin, the running step), never
// remembered by the page, so a reload, a second tablet or a step started elsewhere all show the
// same truth. Pure functions of that report: no DOM, no fetch (tests/e2e/session_state.test.mjs).

// In the order a session goes through them (rejected/destroyed and the capture failures branch off).
export const STATES = [
  'awaiting_consent', // nobody signed yet
  'consent_countersign', // the model signed; witness and studio have not
  'consented',
  'capturing',
  'capture_failed', // a capture ended without a single verified frame
  'partial', // some cameras' frames are missing
  'captured', // every planned frame verified (or accepted missing), not sealed
  'sealed',
  'reconstructing',
  'reconstruct_failed',
  'ready', // the preview twin waits for the model's review
  'approved',
  'rejected', // the model rejected: images and twin deleted, destruction not yet recorded
  'destroyed', // the studio recorded the destruction
  'granted', // at least one licence is in force
  'revoked', // licences were signed, none is in force now
];

const CAPTURE_JOBS = ['capture', 'resume', 'retake', 'accept-missing'];

// The steps on the technician's screen, in order; the guided sequence highlights one of them.
export const TECHNICIAN_BUTTONS = ['new-session', 'issue-pin', 'preflight', 'capture', 'resume',
  'retake', 'seal-without', 'seal', 'reconstruct', 'countersign', 'propose-grant', 'export'];
export const MODEL_BUTTONS = ['sign-consent', 'approve', 'reject', 'sign-pending', 'revoke'];

function lastOf(list) {
  return list && list.length ? list[list.length - 1] : null;
}

// The facts both screens are built from.
export function facts(status) {
  const c = status.consent || {};
  const records = c.records || [];
  const takes = status.takes || [];
  const activity = status.activity || null;
  const newest = lastOf(records);
  const waitingFor = newest && !newest.complete ? newest.missing : [];
  const grants = c.grants || [];
  return {
    c,
    records,
    takes,
    activity,
    newest,
    waitingFor,
    grants,
    running: Boolean(activity && activity.running),
    missing: takes.flatMap((t) => t.missing || []),
    openTake: takes.some((t) => !t.closed),
    verified: takes.reduce((n, t) => n + (t.verified || 0), 0),
    preflightReady: Boolean(status.preflight && status.preflight.ran && status.preflight.ready),
    preview: Boolean(status.twin && status.twin.preview),
  };
}

// The session's state: the first rule that holds, from the end of the story backwards.
export function sessionState(status) {
  const f = facts(status);
  const { c, activity } = f;
  if (c.destroyed) return 'destroyed';
  // The model's review counts from their signature: the chain's effective state (c.twin) follows
  // only once the studio has countersigned it.
  const review = f.records.find((r) => r.type === 'twin_approval' || r.type === 'twin_rejection');
  if (c.twin === 'rejected' || (review && review.type === 'twin_rejection')) return 'rejected';
  if (c.twin === 'approved' || review) {
    const signed = f.grants.length > 0;
    if (signed && f.grants.every((g) => g.revoked)) return 'revoked';
    if (signed) return 'granted';
    return 'approved';
  }
  const job = activity ? activity.kind : '';
  if (c.sealed) {
    if (f.preview) return 'ready';
    if (job === 'reconstruct' && f.running) return 'reconstructing';
    if (job === 'reconstruct' && !activity.ok) return 'reconstruct_failed';
    return 'sealed';
  }
  if (CAPTURE_JOBS.includes(job) && f.running) return 'capturing';
  if (f.takes.length) {
    if (f.missing.length || f.openTake) return f.verified === 0 ? 'capture_failed' : 'partial';
    return 'captured';
  }
  if (CAPTURE_JOBS.includes(job) && !activity.ok) return 'capture_failed';
  if (!f.records.length) return 'awaiting_consent';
  if (!c.consented) return 'consent_countersign';
  return 'consented';
}

// "about 2 min left", "40 s left": the job's estimate in words.
export function timeLeft(seconds) {
  if (!(seconds >= 0)) return '';
  if (seconds < 60) return `about ${Math.max(5, Math.round(seconds / 5) * 5)} s left`;
  return `about ${Math.round(seconds / 60)} min left`;
}

// "reconstruct: depth · 40% · about 2 min left" — or '' when nothing runs.
export function progressText(activity) {
  if (!activity || !activity.running) return '';
  const parts = [activity.stage || 'starting'];
  if (activity.percent >= 0) parts.push(`${activity.percent}%`);
  const left = timeLeft(activity.seconds_left);
  if (left) parts.push(left);
  return parts.join(' · ');
}

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

// The record the countersign button signs, in words: "Countersign record 3 (grant)".
export function countersignLabel(f) {
  const roles = f.waitingFor.filter((r) => r === 'technician' || r === 'studio');
  if (!f.newest || !roles.length || f.waitingFor.includes('subject')) return 'Countersign';
  const what = { consent: 'the consent', capture_seal: 'the capture seal', twin_approval: 'the approval',
    twin_rejection: 'the rejection', grant: 'the licence', amendment: 'the licence change',
    revocation: 'the revocation' }[f.newest.type] || f.newest.type;
  return `Countersign ${what} (record ${f.newest.seq}) as ${roles.join(' and ')}`;
}

// The technician's screen: what to tell them, which step is next, which buttons work.
export function technicianView(status) {
  const f = facts(status);
  const state = sessionState(status);
  const idle = !f.running;
  const pinOpen = !['rejected', 'destroyed'].includes(state);
  const canCountersign = idle && f.waitingFor.length > 0 && !f.waitingFor.includes('subject')
    && f.waitingFor.some((r) => r === 'technician' || r === 'studio');
  const preSeal = ['awaiting_consent', 'consent_countersign', 'consented', 'capture_failed',
    'partial'].includes(state);
  const fixable = idle && (state === 'partial' || state === 'capture_failed') && f.takes.length > 0;
  const enabled = {
    'new-session': idle,
    'issue-pin': pinOpen,
    preflight: idle && preSeal,
    capture: idle && state === 'consented' && f.preflightReady,
    resume: fixable && f.openTake,
    retake: fixable,
    'seal-without': fixable && f.missing.length > 0,
    seal: idle && state === 'captured',
    reconstruct: idle && (state === 'sealed' || state === 'reconstruct_failed'),
    countersign: canCountersign,
    'propose-grant': idle && ['approved', 'granted', 'revoked'].includes(state) && !f.c.pending,
    export: idle && state === 'granted' && !f.c.pending,
  };
  const missing = [...new Set(f.missing)];
  const say = {
    awaiting_consent: ['The model reads and signs the consent on their tablet.', 'issue-pin'],
    consent_countersign: ['The model signed. Countersign the consent as witness and studio.', 'countersign'],
    consented: f.preflightReady
      ? ['Consent complete and the rig is READY: capture.', 'capture']
      : ['Consent complete. Run the preflight until it says READY.', 'preflight'],
    capturing: [`Capturing: ${progressText(f.activity) || 'starting'}.`, ''],
    capture_failed: ['The capture delivered no frame. Fix what is listed, then resume or retake.',
      f.openTake ? 'resume' : 'retake'],
    partial: [`${plural(missing.length, 'camera is', 'cameras are')} missing (${missing.join(', ')}): `
      + 'resume or retake them, or seal without them and say why.', f.openTake ? 'resume' : 'retake'],
    captured: ['Every frame is verified: seal the capture.', 'seal'],
    sealed: ['Sealed. Make the preview twin.', 'reconstruct'],
    reconstructing: [`Making the preview twin: ${progressText(f.activity) || 'starting'}.`, ''],
    reconstruct_failed: ['The preview twin failed; see why below, then start it again.', 'reconstruct'],
    ready: ['The preview twin is ready: the model reviews it on their tablet.', ''],
    approved: canCountersign ? ['The model approved the twin. Countersign the approval.', 'countersign']
      : ['The model approved the twin. Propose a licence when they want one.', 'propose-grant'],
    rejected: ['The model rejected the twin: images and twin are deleted. Countersign to record the '
      + 'destruction.', 'countersign'],
    destroyed: ['Rejected and destroyed; the destruction is recorded. Start a new session for a new scan.',
      'new-session'],
    granted: f.waitingFor.includes('subject') ? ['The licence waits for the model\'s signature.', '']
      : canCountersign ? ['The model signed the licence. Countersign it.', 'countersign']
        : ['A licence is in force: the twin may be exported under it.', 'export'],
    revoked: ['Every licence was revoked: nothing may be exported.', 'propose-grant'],
  }[state];
  let [text, next] = say;
  if (f.waitingFor.includes('subject') && state !== 'awaiting_consent') {
    text = `${text} A record waits for the model's signature.`;
    if (next === 'countersign' || next === 'propose-grant') next = '';
  }
  if (next && !enabled[next]) next = '';
  return { state, text, next, enabled, countersign: countersignLabel(f), progress: progressText(f.activity),
    problems: (f.activity && !f.activity.running && !f.activity.ok) ? f.activity.problems || [] : [],
    missing };
}

// The model's screen: where things are in their words, and which of their buttons work.
export function modelView(status) {
  const f = facts(status);
  const state = sessionState(status);
  const progress = progressText(f.activity);
  const mine = f.waitingFor.includes('subject') && f.newest && f.newest.type !== 'consent';
  const text = {
    awaiting_consent: 'Read the consent and sign it.',
    consent_countersign: 'Thank you. The technician and the studio countersign your consent.',
    consented: 'Consent complete. The capture comes next.',
    capturing: `The cameras are taking your photos${progress ? ` (${progress})` : ''}.`,
    capture_failed: 'The cameras did not deliver your photos. The technician fixes it and takes '
      + 'them again; nothing is made from an incomplete capture.',
    partial: 'Some cameras did not deliver. The technician takes those again; nothing is made '
      + 'from an incomplete capture.',
    captured: 'Captured. The technician seals your photos next.',
    sealed: 'Your photos are sealed. Your preview twin is made next.',
    reconstructing: `Your preview twin is being made${progress ? `: ${progress}` : ''}.`,
    reconstruct_failed: 'Making your preview twin failed; the technician starts it again.',
    ready: 'Your preview twin is ready: look at it, then approve or reject it.',
    approved: 'You approved your twin. Nobody may use it until you sign a licence.',
    rejected: 'You rejected the twin; the photos and the twin were deleted.',
    destroyed: 'You rejected the twin; the capture was destroyed and that is recorded.',
    granted: 'You approved your twin. It may be used only under the licences below; you can '
      + 'revoke each one.',
    revoked: 'You revoked every licence: nobody may use your twin.',
  }[state];
  const reviewable = state === 'ready' && Boolean(f.c.sealed);
  return {
    state,
    text: mine ? `${text} A licence waits for your signature.` : text,
    progress,
    showTwin: f.preview && !['rejected', 'destroyed'].includes(state),
    pending: Boolean(mine),
    enabled: {
      'sign-consent': state === 'awaiting_consent',
      approve: reviewable,
      reject: reviewable,
      'sign-pending': Boolean(mine),
      revoke: ['granted'].includes(state),
    },
  };
}
