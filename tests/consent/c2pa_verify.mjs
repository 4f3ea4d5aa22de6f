// Reads a JPEG's C2PA manifest with two independent implementations from npm (installed into
// web/node_modules by scripts/setup) and prints one verdict line per verifier:
//   c2pa-wasm VERDICT STATE codes…   (the official c2pa-rs, compiled to WebAssembly)
//   c2pa-ts   VERDICT codes…         (TrustNXT's pure TypeScript implementation)
// VERDICT is "accepted" when the manifest is structurally valid and its signature and data hash
// validate, "rejected" otherwise. Exit status 0 when both accept, 1 when any rejects, 2 on usage.
//
// "Untrusted" is not a rejection: the studio signs with its own certificate (keys/c2pa-root.pem
// issues it), which no public C2PA trust list names, so c2pa-rs reports
// signingCredential.untrusted (validation state "Valid", not "Trusted") unless the licensee adds
// the studio's root to its trust anchors, which `--trust ROOT.pem` does here; then the state is
// "Trusted". c2pa-ts does not check trust chains (it reports any well-formed signing
// certificate as signingCredential.trusted).
//   node c2pa_verify.mjs --source DIR [--trust ROOT.pem] FILE.jpg
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const value = args[i + 1];
  args.splice(i, 2);
  return value;
};
const source = option('--source');
const trust = option('--trust');
if (!source || args.length !== 1) {
  console.error('usage: node c2pa_verify.mjs --source DIR [--trust ROOT.pem] FILE.jpg');
  process.exit(2);
}
const file = args[0];
const bytes = new Uint8Array(readFileSync(file));
// The packages are ES modules whose "exports" only name "import" entry points, which
// require.resolve cannot follow: read the entry point from the package's own package.json.
const modules = join(source, 'web', 'node_modules');
function resolve(specifier) {
  const parts = specifier.split('/');
  const name = parts.slice(0, 2).join('/');
  const subpath = ['.', ...parts.slice(2)].join('/');
  const manifest = JSON.parse(readFileSync(join(modules, name, 'package.json'), 'utf8'));
  let entry = manifest.exports?.[subpath] ?? (subpath === '.' ? manifest.module : undefined);
  if (entry && typeof entry === 'object') entry = entry.import ?? entry.default;
  if (typeof entry !== 'string') throw new Error(`${specifier}: not in ${modules} (run scripts/setup)`);
  return join(modules, name, entry);
}
const load = async (name) => import(pathToFileURL(resolve(name)).href);

// c2pa-rs: the manifest is accepted when its validation state is Valid or Trusted.
async function c2paWasm() {
  const wasmPath = resolve('@contentauth/c2pa-wasm/c2pa.wasm');
  const c2pa = await load('@contentauth/c2pa-wasm');
  c2pa.initSync({ module: readFileSync(wasmPath) });
  const settings = { verify: { verify_trust: true } };
  if (trust) settings.trust = { trust_anchors: readFileSync(trust, 'utf8') };
  let report;
  try {
    const reader = await c2pa.WasmReader.fromBytes('image/jpeg', bytes, JSON.stringify(settings));
    report = JSON.parse(reader.json());
  } catch (e) {
    return { verdict: 'rejected', detail: `no manifest read: ${e?.message ?? e}` };
  }
  const state = report.validation_state ?? 'unknown';
  const active = report.validation_results?.activeManifest ?? {};
  const failures = (active.failure ?? []).map((s) => s.code);
  const passed = (active.success ?? []).map((s) => s.code);
  const notes = (active.informational ?? []).map((s) => s.code);
  // An untrusted signer (see above) is the one failure that leaves the manifest valid.
  const accepted =
    (state === 'Valid' || state === 'Trusted') &&
    failures.every((code) => code === 'signingCredential.untrusted');
  return {
    verdict: accepted ? 'accepted' : 'rejected',
    detail: [state, ...failures, ...passed, ...notes].join(' '),
    report,
  };
}

// c2pa-ts: accepted when the active manifest validates without an error entry.
async function c2paTs() {
  const { JPEG } = await load('@trustnxt/c2pa-ts/asset');
  const { SuperBox } = await load('@trustnxt/c2pa-ts/jumbf');
  const { ManifestStore, ValidationResult } = await load('@trustnxt/c2pa-ts/manifest');
  let result;
  try {
    if (!JPEG.canRead(bytes)) throw new Error('not a JPEG');
    const asset = new JPEG(bytes);
    const jumbf = asset.getManifestJUMBF();
    if (!jumbf) throw new Error('no C2PA manifest in the file');
    const store = ManifestStore.read(SuperBox.fromBuffer(jumbf));
    result = await store.validate(asset);
  } catch (e) {
    result = ValidationResult.fromError(e);
  }
  const failures = result.statusEntries.filter((s) => s.success === false);
  const codes = (failures.length ? failures : result.statusEntries).map(
    (s) => s.code + (s.explanation && s.success === false ? ` (${s.explanation})` : ''),
  );
  return { verdict: result.isValid ? 'accepted' : 'rejected', detail: codes.join(' ') };
}

// What c2pa-rs read: each action of the active manifest with its digital source type.
function describeActions(report) {
  const manifest = report?.manifests?.[report.active_manifest];
  const lines = [];
  for (const assertion of manifest?.assertions ?? []) {
    if (!assertion.label.startsWith('c2pa.actions')) continue;
    for (const a of assertion.data?.actions ?? []) {
      lines.push(`action ${a.action} digitalSourceType ${a.digitalSourceType ?? '-'}`);
    }
  }
  return lines;
}

const verdicts = { 'c2pa-wasm': await c2paWasm(), 'c2pa-ts': await c2paTs() };
for (const [name, v] of Object.entries(verdicts)) console.log(`${name} ${v.verdict} ${v.detail}`);
for (const line of describeActions(verdicts['c2pa-wasm'].report)) console.log(line);
if (process.env.C2PA_VERIFY_DUMP) console.log(JSON.stringify(verdicts['c2pa-wasm'].report, null, 1));
process.exit(Object.values(verdicts).every((v) => v.verdict === 'accepted') ? 0 : 1);
