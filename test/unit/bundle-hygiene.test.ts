/**
 * Guards for Lambda bundle size and agent memory that no type checker sees.
 * `import { z } from 'zod'` reaches zod's namespace through a re-export, which esbuild cannot tree-shake:
 * every bundle then carries all of zod's locales (~258 KB). `import * as z from 'zod'` shakes them out.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

test('runtime code imports zod as a namespace so bundles can drop its locales', () => {
  const offenders = ['functions', 'agent']
    .flatMap((d) => sources(join(root, d)))
    .filter((f) => /import\s+(type\s+)?\{\s*z\s*\}\s+from\s+'zod'/.test(readFileSync(f, 'utf8')));
  assert.deepEqual(offenders, [], `use \`import * as z from 'zod'\` in: ${offenders.join(', ')}`);
});
