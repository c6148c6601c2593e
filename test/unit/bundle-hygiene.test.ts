/**
 * Guards for Lambda bundle size and agent memory that no type checker sees.
 * Runtime code uses zod/mini, never classic zod: under the agent's node flags the contract's schemas cost ~2 MB more
 * RSS with classic (6.1 MB against 4.2 MB over an empty node) and every Lambda bundle ~60 KB more. zod/mini has no English messages of its own; the one
 * module functions/contract/zod-locale.ts loads the English locale by its own path.
 * `import { z } from 'zod/mini'` reaches zod's namespace through a re-export, which esbuild cannot tree-shake:
 * every bundle then carries all of zod's locales (~258 KB). `import * as z from 'zod/mini'` shakes them out.
 * The same trap is inside Powertools' parser: its built-in schemas, envelopes and helpers do `import { z } from 'zod'`
 * (~360 KB per bundle), while its `parse` and middleware cost under 1 KB; functions/lib/validation.ts uses `parse`.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { build } from 'esbuild';

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

/** Directories of code that runs in Lambda, on a device, in the local fleet or in CDK. */
const RUNTIME_DIRS = ['functions', 'agent', 'local', 'cdk'];

test('runtime code imports zod as a namespace so bundles can drop its locales', () => {
  const offenders = RUNTIME_DIRS.flatMap((d) => sources(join(root, d))).filter((f) =>
    /import\s+(type\s+)?\{\s*z\s*\}\s+from\s+['"]zod(\/mini)?['"]/.test(readFileSync(f, 'utf8')),
  );
  assert.deepEqual(offenders, [], `use \`import * as z from 'zod/mini'\` in: ${offenders.join(', ')}`);
});

/** Every module specifier a source imports, re-exports or requires from the zod package (type-only imports too). */
const ZOD_SPECIFIER = /(?:\sfrom\s*|import\s*\(\s*|require\s*\(\s*|import\s+)['"](zod(?:\/[^'"]*)?)['"]/g;
const zodSpecifiers = (src: string) => [...src.matchAll(ZOD_SPECIFIER)].map((m) => m[1]!);

/** The English locale, imported by its own path so that no other locale is bundled; only here. */
const LOCALE_MODULE = 'functions/contract/zod-locale.ts';
const EN_LOCALE = 'zod/v4/locales/en.js';

test("runtime code imports only 'zod/mini' (and the English locale in one module), never classic zod", () => {
  const offenders = RUNTIME_DIRS.flatMap((d) => sources(join(root, d))).flatMap((f) => {
    const rel = relative(root, f);
    return zodSpecifiers(readFileSync(f, 'utf8'))
      .filter((spec) => spec !== 'zod/mini' && !(spec === EN_LOCALE && rel === LOCALE_MODULE))
      .map((spec) => `${rel} ('${spec}')`);
  });
  assert.deepEqual(
    offenders,
    [],
    'classic zod costs the agent ~2 MB more RSS than zod/mini for the contract alone (its idle-memory budget is 1.3x an ' +
      'empty node) and every Lambda bundle ~60 KB more (250 KB budget); its types do not describe zod/mini schemas either. ' +
      `Use \`import * as z from 'zod/mini'\` (English messages come from ${LOCALE_MODULE}, imported by the contract) in: ${offenders.join(', ')}`,
  );
});

test('the zod import guard recognises every form of import', () => {
  assert.deepEqual(
    zodSpecifiers(
      [
        "import * as z from 'zod';",
        'import type * as z from "zod";',
        "import { z } from 'zod/v4';",
        "export { string } from 'zod/v4/core';",
        "import 'zod/v4/locales/de.js';",
        "const m = await import('zod/mini');",
        "const m = require('zod');",
        "import * as z from 'zodiac';",
        "import * as z from 'zod-mini-compat';",
      ].join('\n'),
    ),
    ['zod', 'zod', 'zod/v4', 'zod/v4/core', 'zod/v4/locales/de.js', 'zod/mini', 'zod'],
  );
});

test('Lambda and agent bundles carry zod/mini with the English locale only', async () => {
  // Bundled as deployed (ESM, minified, dependencies included): this also catches a dependency that pulls in classic zod.
  const entries = [
    join(root, 'agent', 'src', 'main.ts'),
    ...readdirSync(join(root, 'functions', 'handlers'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(root, 'functions', 'handlers', f)),
  ];
  const result = await build({
    entryPoints: entries,
    outdir: join(root, 'dist', 'bundle-hygiene'),
    write: false,
    bundle: true,
    platform: 'node',
    format: 'esm',
    minify: true,
    mainFields: ['module', 'main'],
    // Native modules of dockerode's SSH transport and its BuildKit session (stubbed out by agent/build.ts).
    external: ['ssh2', 'cpu-features', '@grpc/*', 'protobufjs'],
    metafile: true,
    logLevel: 'silent',
  });
  const problems: string[] = [];
  for (const [out, { inputs }] of Object.entries(result.metafile.outputs)) {
    const zod = Object.entries(inputs)
      .filter(([input, { bytesInOutput }]) => bytesInOutput > 0 && input.includes('node_modules/zod/'))
      .map(([input]) => input.slice(input.indexOf('node_modules/zod/') + 'node_modules/zod/'.length));
    const classic = zod.filter((f) => f.startsWith('v4/classic/') || f.startsWith('v3/'));
    const locales = zod.filter((f) => f.startsWith('v4/locales/'));
    if (classic.length) problems.push(`${out}: classic zod (${classic.slice(0, 3).join(', ')}...)`);
    // A bundle without zod at all (a function that parses nothing) has no messages to word.
    if (zod.length && locales.join() !== 'v4/locales/en.js')
      problems.push(`${out}: locales ${locales.join(', ') || 'none (messages would be only "Invalid input")'}`);
  }
  assert.deepEqual(problems, [], 'each bundle should hold zod/mini and exactly the English locale');
});

/** A value import (static, re-export, side-effect, dynamic or require) of the parser's zod-heavy modules. */
const PARSER_BUILT_INS =
  /(?:^|[;\s])(?:(?:import|export)(?!\s+type\s)[^;'"]*?\sfrom\s*|import\s*\(\s*|require\s*\(\s*|import\s+)['"]@aws-lambda-powertools\/parser\/(?:schemas|envelopes|helpers)(?:\/[^'"]*)?['"]/m;

test("runtime code does not import the Powertools parser's built-in schemas, envelopes or helpers", () => {
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
  assert.deepEqual(
    caught.filter((src) => !PARSER_BUILT_INS.test(src)),
    [],
  );
  assert.deepEqual(
    allowed.filter((src) => PARSER_BUILT_INS.test(src)),
    [],
  );
});
