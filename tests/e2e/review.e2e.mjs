// End to end in headless Chromium: a real virtual studio (8 rendering cameras, trigger nodes, the
// real libgphoto2), `twinrig review`, and two browsers — the technician's and the model's.
// The technician starts a session and sees every camera turn ready; the model signs consent; the
// capture runs; the 3D viewer renders the twin (subject pixels, textured); approval signs the
// twin; an export under the new grant succeeds and is refused once the model revokes the grant;
// a wrong PIN is refused. Screenshots of each page go to --out.
//   node review.e2e.mjs --twinrig BIN --source DIR --out DIR
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { makeTwin } from './make_twin_glb.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const twinrig = args.twinrig;
const source = args.source;
const out = args.out;
if (!twinrig || !source || !out) {
  console.error('usage: node review.e2e.mjs --twinrig BIN --source DIR --out DIR');
  process.exit(2);
}
const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  console.error('FAIL: /usr/bin/chromium is missing: run scripts/setup (it installs chromium)');
  process.exit(1);
}
const require = createRequire(join(source, 'web', 'package.json'));
let playwright;
try {
  playwright = require('playwright-core');
} catch {
  console.error('FAIL: playwright-core is missing: run scripts/setup (npm ci in web/)');
  process.exit(1);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'twinrig-review-e2e-'));
const studio = join(work, 'studio');
const started = Date.now();
const log = (...m) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s]`, ...m);

function tw(...argv) {
  const r = spawnSync(twinrig, ['--studio', studio, ...argv], { encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0) {
    throw new Error(`twinrig ${argv.join(' ')} exited ${r.status}: ${r.stdout}${r.stderr}`);
  }
  return r.stdout;
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  log(`ok: ${what}`);
}

// A fault switched on or off in one virtual camera (the studio's control socket).
function simFault(serial, fault) {
  return new Promise((resolve, reject) => {
    const sock = createConnection(join(studio, 'sim', 'control.sock'));
    let answer = '';
    sock.on('connect', () => sock.write(`${JSON.stringify({ op: 'fault', serial, fault })}\n`));
    sock.on('data', (d) => {
      answer += d;
      if (answer.includes('\n')) {
        sock.end();
        const r = JSON.parse(answer);
        if (r.ok) resolve(); else reject(new Error(`fault on ${serial}: ${r.error}`));
      }
    });
    sock.on('error', reject);
  });
}

// The step the technician's screen highlights as next, and whether a button can be pressed.
const nextStep = (page) => page.evaluate(() => (document.querySelector('button.next') || {}).id || '');
const enabled = (page, id) => page.evaluate((i) => !document.getElementById(i).disabled, id);

const pass = { studio: 'studio-pass-e2e-1', technician: 'tech-pass-e2e-1', subject: 'model-pass-e2e-1' };
let station = null;
let simUp = false;
const contexts = [];

// Every screenshot is also an accessibility check: axe-core (WCAG 2.1 A and AA rules) on the page as
// it is; its serious and critical findings are collected and fail the test at the end.
const axeViolations = [];
async function shot(page, name) {
  await page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
  await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary}`) }));
  });
  writeFileSync(join(out, `${name}.axe.json`), JSON.stringify(found, null, 2));
  for (const v of found) axeViolations.push({ page: name, ...v });
}

// The README's pictures (docs/images/review-*.png): one screen's view, in CSS pixels, kept small.
async function readmeShot(page, name) {
  await page.screenshot({ path: join(out, `readme-${name}.png`), scale: 'css' });
}

// The technician's desktop; the model's tablet is `TABLET`.
const DESKTOP = { viewport: { width: 1440, height: 900 } };
const TABLET = { viewport: { width: 768, height: 1024 }, deviceScaleFactor: 2, hasTouch: true };

// The model's signature dialog: it must say what signing does; the passphrase is typed each time.
async function signInDialog(page, passphrase, screenshot) {
  await page.waitForSelector('#sign-dialog[open]');
  check((await page.textContent('#sign-what')).length > 40, `the dialog says what "${await page.textContent('#sign-title')}" does`);
  check(await page.inputValue('#sign-pass') === '', 'the passphrase is asked for again, not reused');
  await page.fill('#sign-pass', passphrase);
  if (screenshot) await shot(page, screenshot);
  await page.click('#sign-ok');
}

async function browser(name, screen = DESKTOP) {
  const dir = join(work, `chromium-${name}`);
  mkdirSync(dir);
  const ctx = await playwright.chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    // The station's Content-Security-Policy forbids eval; the test's own probes need it.
    bypassCSP: true,
    ...screen,
    // Trust the station's own certificate by its public key, and nothing else.
    args: [`--ignore-certificate-errors-spki-list=${station.spki}`, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // WebGL without a GPU: Chromium's software rasteriser (SwiftShader) must be allowed.
      '--enable-unsafe-swiftshader'],
  });
  contexts.push(ctx);
  const page = ctx.pages()[0] || await ctx.newPage();
  page.setDefaultTimeout(60000);
  page.on('pageerror', (e) => log(`[${name} page error]`, e.message));
  page.on('dialog', (d) => d.accept());
  return page;
}

function startStation() {
  return new Promise((resolve, reject) => {
    const p = spawn(twinrig, ['--studio', studio, 'review', '--listen', '127.0.0.1:0', '--tls',
      '--consent-text', join(source, 'scripts/demo-data/consent-text.txt'), '--text-version', 'e2e-1',
      '--terms', join(source, 'scripts/demo-data/terms.json'), '--technician', 'tech1',
      '--kdf', 'interactive'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const timer = setTimeout(() => reject(new Error(`the station did not start: ${text}`)), 30000);
    p.stdout.on('data', (d) => {
      text += d;
      const addr = /review station on (https:\/\/[^\s]+)/.exec(text);
      const spki = /public key pin \(SHA-256, base64\) ([A-Za-z0-9+/=]+)/.exec(text);
      const pin = /technician PIN (\d+)/.exec(text);
      if (addr && spki && pin) {
        clearTimeout(timer);
        resolve({ process: p, url: addr[1], spki: spki[1], pin: pin[1], output: () => text });
      }
    });
    p.stderr.on('data', (d) => { text += d; });
    p.on('exit', (code) => reject(new Error(`the station exited ${code}: ${text}`)));
  });
}

async function main() {
  for (const [who, p] of Object.entries(pass)) writeFileSync(join(work, `${who}.pass`), `${p}\n`);
  tw('keys', 'init', '--name', 'e2e studio', '--passphrase-file', join(work, 'studio.pass'), '--kdf', 'interactive');
  tw('keys', 'add-technician', 'tech1', '--passphrase-file', join(work, 'technician.pass'), '--kdf', 'interactive');
  const subject = tw('subject', 'add', '--name', 'E2E Model').trim().split('\n')[0];
  log(`subject ${subject}`);
  tw('sim', 'up', '--layout', 'head24', '--cameras', '8', '--width', '320', '--height', '240',
    '--camera-base-address', '127.0.20.2', '--node-base-address', '127.0.21.1');
  simUp = true;
  log('virtual studio up');
  // Reachable from other computers only with TLS.
  const open = spawnSync(twinrig, ['--studio', studio, 'review', '--listen', '0.0.0.0:0',
    '--consent-text', join(source, 'scripts/demo-data/consent-text.txt'), '--text-version', 'e2e-1',
    '--terms', join(source, 'scripts/demo-data/terms.json'), '--technician', 'tech1'],
  { encoding: 'utf8', timeout: 30000 });
  check(open.status !== 0 && /--tls/.test(open.stderr + open.stdout),
    'a station on 0.0.0.0 without TLS is refused with an explanation');
  station = await startStation();
  check(station.url.startsWith('https://127.0.0.1:'), `the station listens on loopback over HTTPS (${station.url})`);

  const tech = await browser('technician');
  await tech.goto(station.url);
  // A wrong PIN is refused.
  const wrong = station.pin === '000000' ? '111111' : '000000';
  await tech.fill('#pin', wrong);
  await tech.click('#login');
  await tech.waitForFunction(() => document.querySelector('#login-error').textContent.includes('wrong PIN'));
  check(await tech.isHidden('#dashboard'), 'a wrong PIN is refused and shows no dashboard');
  await shot(tech, '01-login-wrong-pin');
  await tech.fill('#pin', station.pin);
  await tech.click('#login');
  await tech.waitForSelector('#dashboard:not(.hidden) #session-id');
  const cookies = await tech.context().cookies();
  check(cookies.some((c) => c.name === '__Host-twinrig_token' && c.secure && c.httpOnly),
    'the token cookie is __Host- prefixed, Secure and HttpOnly');
  await shot(tech, '02-dashboard');

  // New session, preflight: every camera turns ready.
  await tech.waitForFunction((s) => [...document.querySelectorAll('#subject option')].some((o) => o.value === s), subject);
  await tech.selectOption('#subject', subject);
  await tech.click('#new-session');
  await tech.waitForFunction(() => /^S-/.test(document.querySelector('#session-id').textContent));
  const session = (await tech.textContent('#session-id')).trim();
  log(`session ${session}`);
  await tech.waitForFunction(() => document.querySelectorAll('#grid .tile').length === 8);
  await tech.click('#preflight');
  await tech.waitForFunction(() => {
    const tiles = [...document.querySelectorAll('#grid .tile')];
    return tiles.length === 8 && tiles.every((t) => t.dataset.state === 'ready');
  }, null, { timeout: 120000 });
  check(true, 'every camera tile turned ready after preflight');
  check(!(await enabled(tech, 'capture')), 'Capture stays disabled until the consent is complete');
  check(!(await enabled(tech, 'seal')), 'Seal is disabled before anything is captured');
  const tileText = await tech.textContent('#grid .tile .place');
  check(/^Column \d+/.test(tileText), `tiles are named by their place in the rig ("${tileText}")`);
  await shot(tech, '03-cameras-ready');
  await tech.click('#view-map');
  await tech.waitForFunction(() => document.querySelectorAll('#rig-map .dot.state-ready').length === 8);
  check(true, 'the rig map shows every camera in its place, ready');
  await shot(tech, '03b-rig-map');
  await tech.click('#view-tiles');

  // The model signs consent on their own device.
  await tech.click('#issue-pin');
  await tech.waitForFunction(() => /^\d{6,}$/.test(document.querySelector('#subject-pin').textContent));
  const subjectPin = (await tech.textContent('#subject-pin')).trim();
  check(station.output().includes(`subject PIN for session ${session}: ${subjectPin}`),
    'the subject PIN is shown on the station');
  const model = await browser('model', TABLET);
  await model.goto(station.url);
  await model.fill('#pin', subjectPin);
  await model.click('#login');
  await model.waitForSelector('#model:not(.hidden) #consent-text');
  await model.waitForFunction(() => document.querySelector('#consent-text').textContent.length > 20);
  await shot(model, '04-model-consent');
  await model.fill('#subject-pass', pass.subject);
  await model.fill('#subject-pass2', pass.subject);
  await model.click('#sign-consent');
  await model.waitForFunction(() => document.querySelector('#consent-result').textContent.startsWith('signed'));
  const shown = await model.getAttribute('#consent-text', 'data-sha256');
  const record = JSON.parse(spawnSync('cat', [join(studio, 'sessions', session, 'consent',
    readdirSync(join(studio, 'sessions', session, 'consent')).find((f) => /^0001-consent\.json$/.test(f)))],
  { encoding: 'utf8' }).stdout);
  check(JSON.stringify(record).includes(shown), 'the consent record holds the SHA-256 of the text shown');
  // The model sees nothing of another session.
  const other = await model.evaluate(async () => (await fetch('/api/studio')).status);
  check(other === 403, 'the model cannot read the studio overview');
  await shot(model, '05-model-signed');

  // Witness and studio countersign; capture.
  await tech.fill('#technician-pass', pass.technician);
  await tech.fill('#studio-pass', pass.studio);
  await tech.waitForFunction(() => document.querySelector('#countersign.next'));
  check(true, 'after the model signed, Countersign is the next step');
  const label = await tech.textContent('#countersign');
  check(label === 'Countersign the consent (record 1) as technician and studio', `the countersign button names the record ("${label}")`);
  await tech.click('#countersign');
  await tech.waitForFunction(() => document.querySelector('#sign-result').textContent.includes('technician and studio'));
  check(true, 'witness and studio countersigned the consent');
  await tech.waitForFunction(() => document.querySelector('#capture.next') && !document.querySelector('#capture').disabled);
  check(true, 'with consent and a READY preflight, Capture is enabled and highlighted as the next step');
  await readmeShot(tech, 'technician-next-step');

  // A capture that fails on one camera (its transfers arrive corrupt), fixed from the button.
  const broken = await tech.getAttribute('#grid .tile', 'data-serial');
  await simFault(broken, { corrupt_transfer: true });
  await tech.click('#capture');
  await tech.waitForFunction(() => /^capture:(ok|failed)$/.test(document.querySelector('#progress').dataset.job), null, { timeout: 180000 });
  check(await tech.getAttribute('#progress', 'data-job') === 'capture:failed', `the capture with camera ${broken} broken fails`);
  await tech.waitForSelector('#fix-box:not(.hidden)');
  check(!(await enabled(tech, 'seal')), 'Seal stays disabled while a camera\'s frame is missing');
  const fix = await nextStep(tech);
  check(fix === 'retake' || fix === 'resume', `the fix is offered as the next step (${fix})`);
  check((await tech.textContent('#state-text')).includes(broken), 'the status names the missing camera');
  await tech.waitForFunction((s) => document.querySelector(`#grid .tile[data-serial="${s}"]`).classList.contains('missed'), broken);
  await shot(tech, '06a-capture-failed');
  await readmeShot(tech, 'technician-failed-capture');
  await model.waitForFunction(() => document.querySelector('#model-status').dataset.state === 'partial');
  check((await model.textContent('#model-status')).includes('did not deliver'), 'the model is told, in words, that some cameras did not deliver');
  await shot(model, '06b-model-capture-failed');
  // A reload mid-session keeps the open session.
  await tech.reload();
  await tech.waitForFunction((s) => document.querySelector('#session-id').textContent === s, session);
  await tech.waitForSelector('#fix-box:not(.hidden)');
  check(await nextStep(tech) === fix, `a reload keeps the open session and its next step (${session})`);
  check(await tech.inputValue('#studio-pass') === '', 'a reload keeps no passphrase');
  await tech.fill('#studio-pass', pass.studio);
  await simFault(broken, {});
  await tech.click(`#${fix}`);
  await tech.waitForFunction((k) => new RegExp(`^${k}:(ok|failed)$`).test(document.querySelector('#progress').dataset.job), fix, { timeout: 180000 });
  const job = await tech.getAttribute('#progress', 'data-job');
  check(job === `${fix}:ok`, `the capture finished from the ${fix} button (${job})`);
  await tech.waitForSelector('#fix-box.hidden', { state: 'attached' });
  check(await nextStep(tech) === 'seal', 'with every frame verified, Seal is the next step');
  await tech.waitForFunction(() => [...document.querySelectorAll('#grid .tile img')].length === 8);
  check(true, 'every tile shows its last frame');
  await shot(tech, '06-captured');
  await tech.fill('#technician-pass', 'not the passphrase');
  await tech.click('#seal');
  await tech.waitForFunction(() => document.querySelector('#sign-result').classList.contains('error'));
  const wrongPass = await tech.textContent('#sign-result');
  check(/wrong passphrase/.test(wrongPass) && !wrongPass.includes('/') && !/passphrase file/.test(wrongPass),
    `a wrong passphrase is said without a key file's path ("${wrongPass}")`);
  await tech.fill('#technician-pass', pass.technician);
  await tech.click('#seal');
  await tech.waitForFunction(() => document.querySelector('#sign-result').textContent.includes('sealed'));
  check(true, 'the capture is sealed');
  await tech.waitForFunction(() => document.querySelector('#reconstruct.next'));
  check(true, 'Make preview twin is the next step');

  // The twin: the real reconstruction when asked for, else the head-scan fixture.
  const twinDir = join(studio, 'sessions', session, 'twin', 'preview');
  if (process.env.TWINRIG_E2E_RECONSTRUCT === '1') {
    await tech.click('#reconstruct');
    await tech.waitForFunction(() => /^reconstruct:(ok|failed)$/.test(document.querySelector('#progress').dataset.job), null, { timeout: 1800000 });
    check(await tech.getAttribute('#progress', 'data-job') === 'reconstruct:ok', 'the preview reconstruction finished');
  } else {
    const made = makeTwin(join(source, 'sim/data/head'), twinDir);
    log(`fixture twin: ${made.vertices} vertices, ${made.triangles} triangles`);
  }

  // The model looks at their twin in 3D.
  await model.waitForSelector('#twin-panel:not(.hidden)');
  await model.waitForFunction(() => window.twinViewer && window.twinViewer.loaded, null, { timeout: 60000 });
  await model.waitForTimeout(300);
  const stats = await model.evaluate(() => window.twinViewer.stats());
  log('viewer', JSON.stringify(stats));
  check(stats.subject > stats.total * 0.05, `the viewer draws the subject (${stats.subject} of ${stats.total} pixels)`);
  check(stats.textured && stats.colours > 100, `the twin is textured (${stats.colours} colours)`);
  await shot(model, '07-model-twin');
  await model.evaluate(() => document.querySelector('#status-panel').scrollIntoView());
  await readmeShot(model, 'model-twin');
  await (await model.$('#viewer canvas')).screenshot({ path: join(out, '07b-twin-canvas.png') });
  // Orbit and zoom change the view.
  const box = await (await model.$('#viewer canvas')).boundingBox();
  await model.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await model.mouse.down();
  await model.mouse.move(box.x + box.width / 2 + 150, box.y + box.height / 2, { steps: 5 });
  await model.mouse.up();
  await model.mouse.wheel(0, -300);
  const after = await model.evaluate(() => window.twinViewer.stats());
  check(after.subject !== stats.subject, 'orbit and zoom change the view');
  await shot(model, '08-model-twin-orbited');
  await model.click('#viewer-reset');
  const reset = await model.evaluate(() => window.twinViewer.stats());
  check(reset.subject === stats.subject, 'Reset view brings back the first view');
  // Sharp on the tablet: the canvas has the screen's pixels, not CSS pixels.
  const sharp = await model.evaluate(() => {
    const c = document.querySelector('#viewer canvas');
    return { buffer: c.width, css: c.clientWidth, ratio: window.devicePixelRatio };
  });
  check(sharp.ratio === 2 && sharp.buffer === 2 * sharp.css,
    `the viewer draws at the tablet's pixel density (${sharp.buffer} pixels for ${sharp.css} CSS pixels)`);
  // The keyboard turns the twin; R resets.
  await model.focus('#viewer canvas');
  await model.keyboard.press('ArrowRight');
  await model.keyboard.press('ArrowRight');
  const turned = await model.evaluate(() => window.twinViewer.stats());
  check(turned.subject !== stats.subject, 'the arrow keys turn the twin');
  await model.keyboard.press('r');
  const back = await model.evaluate(() => window.twinViewer.stats());
  check(back.subject === stats.subject, 'R resets the view');
  // A photo opens large.
  await model.click('#images .photo-thumb');
  await model.waitForSelector('#photo[open]');
  const large = await model.evaluate(() => document.querySelector('#photo-img').getBoundingClientRect().width);
  check(large > 500, `a photo opens large (${Math.round(large)} CSS pixels wide)`);
  await shot(model, '08b-model-photo-large');
  await model.click('#photo-close');
  await model.waitForFunction(() => !document.querySelector('#photo').open);

  // Approval signs the twin.
  // Reject asks first; cancelling it changes nothing.
  await model.click('#reject');
  await model.waitForSelector('#sign-dialog[open]');
  await shot(model, '08c-model-reject-asks');
  await model.click('#sign-cancel');
  await model.waitForFunction(() => !document.querySelector('#sign-dialog').open);
  check(!(await model.isDisabled('#approve')), 'a cancelled rejection leaves the twin to review');
  await model.fill('#review-note', 'that is me');
  await model.click('#approve');
  await signInDialog(model, pass.subject, '08d-model-approve-asks');
  await model.waitForFunction(() => document.querySelector('#review-result').textContent.includes('approved'));
  await model.waitForFunction(() => document.querySelector('#model-status').dataset.state === 'approved');
  await model.waitForFunction(() => document.querySelector('#approve').disabled && document.querySelector('#reject').disabled);
  check(true, 'after approving, Approve and Reject are disabled');
  check((await model.textContent('#model-status')).startsWith('You approved your twin'), 'the model\'s status says it is approved');
  await tech.waitForFunction(() => document.querySelector('#countersign.next'));
  check((await tech.textContent('#countersign')).startsWith('Countersign the approval'), 'the countersign button names the approval');
  await tech.click('#countersign');
  await tech.waitForFunction(() => document.querySelector('#sign-result').textContent.endsWith('signed as studio'));
  await model.waitForFunction(() => document.querySelector('#model-status').dataset.twin === 'approved');
  check(true, 'the model approved and signed the twin; the studio countersigned');

  // A grant: proposed by the technician, signed by the model, countersigned by the studio.
  await tech.fill('#grant-fee', '1000');
  await tech.fill('#grant-per-use', '50');
  await shot(tech, '08e-grant-form');
  await tech.click('#propose-grant');
  await tech.waitForFunction(() => document.querySelector('#grant-result').textContent.startsWith('licence proposed'));
  await model.waitForSelector('#pending-panel:not(.hidden)');
  await shot(model, '09-model-grant-to-sign');
  const terms = await model.textContent('#pending-terms');
  check(terms.includes('Brand A may use your twin for campaign imagery') && terms.includes('€1,000.00')
    && terms.includes('€50.00 for each use') && terms.includes('may not use AI'),
  `the grant reads as sentences with pay in money and AI use in words ("${terms.slice(0, 160)}…")`);
  await model.click('#sign-pending');
  await signInDialog(model, pass.subject);
  await model.waitForFunction(() => document.querySelector('#pending-result').textContent === 'signed');
  await tech.waitForFunction(() => document.querySelector('#countersign.next'));
  check((await tech.textContent('#countersign')).startsWith('Countersign the licence'), 'the countersign button names the licence');
  await tech.click('#countersign');
  await tech.waitForFunction(() => document.querySelector('#sign-result').textContent.endsWith('signed as studio'));
  await tech.waitForFunction(() => document.querySelector('#export.next'));
  check(true, 'the grant is signed by the model and the studio');

  // An export under the new grant.
  await tech.fill('#export-licensee', 'brand-a');
  await tech.fill('#export-purpose', 'campaign imagery');
  await tech.fill('#export-medium', 'social');
  await tech.fill('#export-territory', 'EU');
  // The declared use is checked against the grant (R4): this grant allows no AI.
  await tech.check('#export-generative');
  await tech.click('#export');
  await tech.waitForFunction(() => /generative AI use is not permitted/.test(document.querySelector('#export-result').textContent));
  check(true, 'an export declaring generative AI is refused under a grant that allows none');
  await tech.uncheck('#export-generative');
  await tech.fill('#export-contexts', 'fashion');
  await tech.click('#export');
  await tech.waitForFunction(() => /^export .* under grant g1/.test(document.querySelector('#export-result').textContent));
  const exported = await tech.textContent('#export-result');
  const exportDir = join(studio, /in (exports\/\S+)$/.exec(exported)[1]);
  check(existsSync(join(exportDir, 'twin', 'preview', 'twin.glb')) || readdirSync(exportDir).length > 2,
    `the export wrote the twin files (${exportDir})`);
  check(existsSync(join(exportDir, 'provenance.json')), 'the export carries signed provenance');
  await shot(tech, '10-exported');

  // The model sees the grant and revokes it; the next export is refused.
  await model.waitForSelector('[data-revoke="g1"]');
  await shot(model, '11-model-grants');
  await model.click('[data-revoke="g1"]');
  await signInDialog(model, pass.subject, '11b-model-revoke-asks');
  await model.waitForFunction(() => document.querySelector('#revoke-result').textContent.includes('revoked'));
  await model.waitForSelector('[data-grant="g1"] .revoked');
  await tech.click('#export');
  await tech.waitForFunction(() => document.querySelector('#export-result').classList.contains('error'));
  check((await tech.textContent('#export-result')).includes('refused'), 'an export after the revocation is refused');
  await model.waitForFunction(() => document.querySelector('#model-status').dataset.state === 'revoked');
  await shot(model, '12-model-revoked');
  await tech.waitForFunction(() => document.querySelector('#state-text').dataset.state === 'revoked');
  await shot(tech, '13-dashboard-end');
  // The two screens at each other's sizes: the dashboard on a portrait tablet, the model's at a desk.
  await tech.setViewportSize({ width: 768, height: 1024 });
  await shot(tech, '13b-dashboard-tablet');
  await tech.setViewportSize({ width: 1440, height: 900 });
  await model.setViewportSize({ width: 1440, height: 900 });
  await shot(model, '12b-model-desktop');
  await model.setViewportSize({ width: 768, height: 1024 });

  await rejectFlow(tech, model, subject);

  const verify = spawnSync(twinrig, ['--studio', studio, 'consent', 'verify', '--session', session], { encoding: 'utf8' });
  check(verify.status === 0, 'the consent chain verifies with the CLI');
  const audit = spawnSync(twinrig, ['--studio', studio, 'audit', 'verify'], { encoding: 'utf8' });
  check(audit.status === 0, 'the audit log verifies');
  for (const v of axeViolations) log(`axe ${v.impact} on ${v.page}: ${v.id} (${v.help})\n    ${v.nodes.join('\n    ')}`);
  check(axeViolations.length === 0,
    `axe-core finds no serious or critical WCAG 2.1 AA violation on any page (${axeViolations.length} found)`);
}

// A second session of the same model, rejected: confirmed in a dialog, the capture destroyed,
// the destruction countersigned; both screens say so.
async function rejectFlow(tech, model, subject) {
  const first = (await tech.textContent('#session-id')).trim();
  await tech.click('#new-session');
  await tech.waitForFunction((f) => /^S-/.test(document.querySelector('#session-id').textContent)
    && document.querySelector('#session-id').textContent !== f, first);
  const second = (await tech.textContent('#session-id')).trim();
  check(await tech.inputValue('#subject') === subject, `the new session is for the open session's subject (${second})`);
  await tech.click('#issue-pin');
  await tech.waitForFunction((s) => /^\d{6,}$/.test(document.querySelector('#subject-pin').textContent), second);
  const pin = (await tech.textContent('#subject-pin')).trim();
  await model.click('#logout');
  await model.waitForSelector('#login-page:not(.hidden)');
  await model.fill('#pin', pin);
  await model.click('#login');
  await model.waitForSelector('#model:not(.hidden) #consent-text');
  await model.waitForFunction(() => document.querySelector('#consent-text').textContent.length > 20);
  await model.fill('#subject-pass', pass.subject);
  await model.fill('#subject-pass2', pass.subject);
  await model.click('#sign-consent');
  await model.waitForFunction(() => document.querySelector('#consent-result').textContent.startsWith('signed'));
  await tech.waitForFunction(() => document.querySelector('#countersign.next'));
  await tech.click('#countersign');
  await tech.waitForFunction(() => document.querySelector('#capture.next'));
  await tech.click('#capture');
  await tech.waitForFunction(() => /^capture:(ok|failed)$/.test(document.querySelector('#progress').dataset.job), null, { timeout: 180000 });
  check(await tech.getAttribute('#progress', 'data-job') === 'capture:ok', 'the second capture finished');
  await tech.waitForFunction(() => document.querySelector('#seal.next'));
  await tech.click('#seal');
  await tech.waitForFunction(() => document.querySelector('#sign-result').textContent.includes('sealed'));
  makeTwin(join(source, 'sim/data/head'), join(studio, 'sessions', second, 'twin', 'preview'));
  await model.waitForFunction(() => document.querySelector('#model-status').dataset.state === 'ready');
  await model.click('#reject');
  await signInDialog(model, pass.subject, '14-model-reject-confirm');
  // The rejection ends the model's sitting: their screen goes back to the PIN.
  await model.waitForSelector('#login-page:not(.hidden)');
  await tech.waitForFunction(() => document.querySelector('#state-text').dataset.state === 'rejected');
  check(await nextStep(tech) === 'countersign', 'after a rejection, countersigning the destruction is the next step');
  check(!(await enabled(tech, 'reconstruct')) && !(await enabled(tech, 'capture')), 'nothing more can be made of a rejected capture');
  await shot(tech, '15-dashboard-rejected');
  await tech.click('#countersign');
  await tech.waitForFunction(() => document.querySelector('#state-text').dataset.state === 'destroyed');
  check((await tech.textContent('#sign-result')).includes('destruction recorded'), 'the destruction is recorded');
  check(await nextStep(tech) === 'new-session', 'a destroyed session points to a new session');
  await shot(tech, '16-dashboard-destroyed');
}

async function cleanup() {
  for (const ctx of contexts) await ctx.close().catch(() => {});
  if (station) {
    const ended = new Promise((resolve) => station.process.on('exit', (code, sig) => resolve({ code, sig })));
    station.process.kill('SIGTERM');
    const timeout = new Promise((resolve) => setTimeout(() => resolve(null), 15000));
    const result = await Promise.race([ended, timeout]);
    writeFileSync(join(out, 'station.log'), station.output());
    if (!result || result.code !== 0) {
      station.process.kill('SIGKILL');
      throw new Error(`the station did not stop cleanly on SIGTERM: ${JSON.stringify(result)}`);
    }
    log('the station stopped cleanly on SIGTERM');
  }
  if (simUp) spawnSync(twinrig, ['--studio', studio, 'sim', 'down'], { timeout: 60000 });
  rmSync(work, { recursive: true, force: true });
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  console.error(`FAIL: ${err.stack || err}`);
  // What each screen showed when it failed.
  for (const [i, ctx] of contexts.entries()) {
    for (const page of ctx.pages()) {
      await page.screenshot({ path: join(out, `failed-${i}.png`), fullPage: true }).catch(() => {});
      const said = await page.evaluate(() => [...document.querySelectorAll('.result, #state-text, #model-status')]
        .map((e) => `${e.id}: ${e.textContent}`).filter((t) => !t.endsWith(': ')).join('\n')).catch(() => '');
      console.error(`screen ${i}:\n${said}`);
    }
  }
  if (station) console.error(`station output:\n${station.output()}`);
}
try {
  await cleanup();
} catch (err) {
  failed = true;
  console.error(`FAIL: ${err.message}`);
}
log(failed ? 'FAILED' : `PASSED; screenshots in ${out}`);
process.exit(failed ? 1 : 0);
