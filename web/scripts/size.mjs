// Prints the gzip size of the JS and CSS the Python package ships (target: JS ≤ 120 KiB).
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const assets = join(dirname(fileURLToPath(import.meta.url)), '../../xpagent/api/static/assets');
const LIMIT_KIB = 120;
const totals = { js: 0, css: 0 };

for (const name of readdirSync(assets).sort()) {
  const kind = name.endsWith('.js') ? 'js' : name.endsWith('.css') ? 'css' : null;
  if (!kind) continue;
  const raw = readFileSync(join(assets, name));
  const gzip = gzipSync(raw, { level: 9 }).length;
  totals[kind] += gzip;
  console.log(
    `${name.padEnd(32)} ${(raw.length / 1024).toFixed(1).padStart(7)} KiB raw ${(gzip / 1024).toFixed(1).padStart(7)} KiB gzip`,
  );
}
console.log(`JS  ${(totals.js / 1024).toFixed(1)} KiB gzip (target ≤ ${String(LIMIT_KIB)} KiB)`);
console.log(`CSS ${(totals.css / 1024).toFixed(1)} KiB gzip`);
if (totals.js > LIMIT_KIB * 1024) {
  console.error(`JS is over the ${String(LIMIT_KIB)} KiB target`);
  process.exitCode = 1;
}
