// Builds the review station's front end into dist/: one ES module bundle (three.js included, so
// the station serves everything itself and needs no network), the page and its stylesheet.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.env.TWINRIG_WEB_OUT || join(here, 'dist');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, 'src/app.js')],
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: true,
  sourcemap: true,
  outfile: join(out, 'app.js'),
  logLevel: 'warning',
});
for (const file of ['index.html', 'style.css']) copyFileSync(join(here, 'src', file), join(out, file));
console.log(`web: built ${out}`);
