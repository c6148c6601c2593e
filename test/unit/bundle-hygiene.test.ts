/**
 * Guards for Lambda bundle size and agent memory that no type checker sees.
 * `import { z } from 'zod'` reaches zod's namespace through a re-export, which esbuild cannot tree-shake:
 * every bundle then carries all of zod's locales (~258 KB). `import * as z from 'zod'` shakes them out.
 * The same trap is inside Powertools' parser: its built-in schemas, envelopes and helpers do `import { z } from 'zod'`
 * (~360 KB per bundle), while its `parse` and middleware cost under 1 KB; functions/lib/validation.ts uses `parse`.
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

/** A value import (static, re-export, side-effect, dynamic or require) of the parser's zod-heavy modules. */
const PARSER_BUILT_INS = /(?:^|[;\s])(?:(?:import|export)(?!\s+type\s)[^;'"]*?\sfrom\s*|import\s*\(\s*|require\s*\(\s*|import\s+)['"]@aws-lambda-powertools\/parser\/(?:schemas|envelopes|helpers)(?:\/[^'"]*)?['"]/m;

test('runtime code does not import the Powertools parser\'s built-in schemas, envelopes or helpers', () => {
  const offenders = ['functions', 'agent']
    .flatMap((d) => sources(join(root, d)))
    .filter((f) => PARSER_BUILT_INS.test(readFileSync(f, 'utf8')));
  assert.deepEqual(
    offenders,
    [],
    `@aws-lambda-powertools/parser/{schemas,envelopes,helpers} import zod's whole namespace with every locale (~360 KB per Lambda bundle); ` +
      `validate with \`safeParse\` from functions/lib/validation.ts (Powertools' \`parse\` over our own schemas, envelopes included) in: ${offenders.join(', ')}`,
  );
});

test('the parser guard recognises every form of import and lets type-only imports through', () => {
  const caught = [
    "import { SqsEnvelope } from '@aws-lambda-powertools/parser/envelopes';",
    "import { SqsEnvelope } from '@aws-lambda-powertools/parser/envelopes/sqs';",
    'import { SnsSchema } from "@aws-lambda-powertools/parser/schemas/sns";',
    "import {\n  JSONStringified,\n} from '@aws-lambda-powertools/parser/helpers';",
    "import * as helpers from '@aws-lambda-powertools/parser/helpers/dynamodb';",
    "import { type SqsSchema, SqsRecordSchema } from '@aws-lambda-powertools/parser/schemas';",
    "export { SqsSchema } from '@aws-lambda-powertools/parser/schemas/sqs';",
    "import '@aws-lambda-powertools/parser/schemas';",
    "const m = await import('@aws-lambda-powertools/parser/envelopes/sns');",
    "const m = require('@aws-lambda-powertools/parser/schemas');",
  ];
  const allowed = [
    "import { parse } from '@aws-lambda-powertools/parser';",
    "import { parser } from '@aws-lambda-powertools/parser/middleware';",
    "import type { SqsEvent } from '@aws-lambda-powertools/parser/types';",
    "import type { SqsSchema } from '@aws-lambda-powertools/parser/schemas/sqs';",
    "export type { SqsSchema } from '@aws-lambda-powertools/parser/schemas/sqs';",
  ];
  assert.deepEqual(caught.filter((src) => !PARSER_BUILT_INS.test(src)), []);
  assert.deepEqual(allowed.filter((src) => PARSER_BUILT_INS.test(src)), []);
});
