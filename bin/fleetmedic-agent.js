#!/usr/bin/env node
// fleetmedic-agent launcher: the bundled agent (dist/agent/fleetmedic-agent.mjs, built by `npx tsx agent/build.ts`)
// when present — plain node, smallest memory footprint — else the TypeScript sources through tsx.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/agent/fleetmedic-agent.mjs', import.meta.url);
if (existsSync(bundle) && !process.env.FLEETMEDIC_AGENT_FROM_SOURCE) {
  await import(bundle.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../agent/src/main.ts', import.meta.url).href);
}
