/**
 * Every Lambda handler names itself (functions/lib/observability.ts forFunction; the API handlers through
 * createApiHandler), so its log lines and metrics carry its own service name in the local fleet as in the cloud.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FUNCTION_NAMES } from '../../infra/spec.js';

test('every handler runs as the function it is', () => {
  for (const name of FUNCTION_NAMES) {
    const source = readFileSync(join(import.meta.dirname, '..', '..', 'functions', 'handlers', `${name}.ts`), 'utf8');
    const named = new RegExp(`forFunction\\(\\s*'${name}'|createApiHandler\\(\\s*'${name}'`).test(source);
    assert.ok(named, `functions/handlers/${name}.ts exports a handler wrapped in forFunction('${name}', ...)`);
  }
});
