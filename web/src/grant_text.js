// A licence grant in the words a model reads: who, for what, where, how long, what they are paid and
// what AI may do with their likeness. The signed record keeps the exact terms; this is their reading.

const TRAINING = {
  'cawg.ai_generative_training': 'training AI that generates images or video',
  'cawg.ai_training': 'training other AI systems',
  'cawg.ai_inference': 'feeding it to AI systems as input',
  'cawg.data_mining': 'data mining',
};

// 100000 minor units of EUR -> "€1,000.00" (the currency's own number of decimals).
export function money(minor, currency) {
  let format;
  try {
    format = new Intl.NumberFormat('en-GB', { style: 'currency', currency });
  } catch {
    return `${minor} (minor units of ${currency})`;
  }
  const digits = format.resolvedOptions().maximumFractionDigits;
  return format.format(Number(minor) / 10 ** digits);
}

function date(iso) {
  const d = new Date(`${iso}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleDateString('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
}

function list(items) {
  const xs = (items || []).map(String);
  if (xs.length < 2) return xs.join('');
  return `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}

// The sentences of one grant, in order: use, pay, AI.
export function grantSentences(g) {
  const who = g.licensee && typeof g.licensee === 'object' ? g.licensee.name || g.licensee.id : g.licensee;
  const out = [`${who} may use your twin for ${g.purpose}, in ${list(g.media)}, in ${list(g.territory)}, `
    + `from ${date(g.not_before)} to ${date(g.not_after)}.`];
  const c = g.compensation;
  if (c && c.currency) {
    const parts = [];
    if (c.creation_fee_minor) parts.push(`${money(c.creation_fee_minor, c.currency)} when the twin is made for them`);
    if (c.per_use_minor) parts.push(`${money(c.per_use_minor, c.currency)} for each use`);
    if (c.per_period_minor) parts.push(`${money(c.per_period_minor, c.currency)} for each period of use`);
    let pay = parts.length ? `You are paid ${list(parts)}` : 'You are not paid for this use';
    if (parts.length && c.payment_terms_days) pay += `, within ${c.payment_terms_days} days`;
    if (c.agent_commission_pct) pay += ` (your agent's commission: ${c.agent_commission_pct} %)`;
    out.push(`${pay}.`);
  }
  if (g.generative_ai !== undefined) {
    out.push(g.generative_ai
      ? 'They may use AI to make new images or video of you from your twin.'
      : 'They may not use AI to make new images or video of you.');
  }
  const training = g.training || {};
  const allowed = Object.keys(TRAINING).filter((k) => training[k] === 'allowed').map((k) => TRAINING[k]);
  const limited = Object.keys(TRAINING).filter((k) => training[k] === 'constrained').map((k) => TRAINING[k]);
  if (allowed.length) out.push(`Your likeness may be used for ${list(allowed)}.`);
  if (limited.length) out.push(`Only within this licence's limits: ${list(limited)}.`);
  if (!allowed.length && !limited.length) out.push('Your likeness may not be used to train AI or for data mining.');
  return out;
}
