// Makes package-lock.json installable with `npm ci` on npm ≥ 11.
//
// The registry this project's machines reach serves only the Linux builds of packages that ship
// per-platform binaries as optional dependencies (biome, rollup), so `npm install` cannot record the
// other platforms' entries. npm 11's `npm ci` then refuses the lockfile ("Missing: … from lock
// file"). This drops the optional-dependency edges that point at packages absent from the lockfile;
// nothing that is installed changes. Run it after every `npm install` that rewrites the lockfile.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const present = new Set(Object.keys(lock.packages).map((path) => path.replace(/^.*node_modules\//, '')));
let pruned = 0;
for (const entry of Object.values(lock.packages)) {
  for (const name of Object.keys(entry.optionalDependencies ?? {})) {
    if (present.has(name)) continue;
    delete entry.optionalDependencies[name];
    pruned++;
  }
}
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`prune-lockfile: removed ${pruned} optional dependencies the registry does not serve`);
