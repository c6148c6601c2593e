/**
 * Bundles the agent into one ESM file: dist/agent/fleetmedic-agent.mjs (run by bin/fleetmedic-agent.js, and on a
 * device by the systemd unit as `node <AGENT_NODE_FLAGS> fleetmedic-agent.mjs run`).
 *   npx tsx agent/build.ts
 * Why: an edge device should not run TypeScript through tsx, and one minified file loads far less code. The
 * Docker transports the agent never uses are stubbed out: dockerode's SSH transport (ssh2 + native crypto), its
 * BuildKit session (gRPC + protobufjs, uuid) and build-context packing (tar-fs). Measured: dockerode alone 67 MB
 * RSS from node_modules vs 47 MB bundled with the stubs (empty node: 39 MB).
 *
 * Memory, measured on this machine (idle agent, 10 services, 2 s cycles, no health module): tsx from sources
 * ≈ 115 MB; this bundle ≈ 56 MB (empty node 40 MB, 1.4x); the bundle under `node --lite-mode` ≈ 50 MB (1.28x):
 * the agent is I/O-bound (a few small JSON documents per cycle), so V8's optimising tiers buy nothing here and
 * their code and feedback memory is most of the difference. The contract is on zod/mini (classic zod cost
 * ~2 MB more at rest and ~60 KB more code).
 * Tried and measured worse: a CommonJS bundle (+1–2 MB once running, though an empty .cjs entry costs less than an
 * empty .mjs one), `--lite-mode` (−0.5 MB, but it disables WebAssembly and with it node's fetch), glibc malloc
 * tuning (no change).
 */
import { build } from 'esbuild';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const STUBBED = /^(ssh2|@grpc\/grpc-js|@grpc\/proto-loader|protobufjs|cpu-features|tar-fs|uuid)(\/.*)?$/;

/** Where `npx tsx agent/build.ts` writes the bundle (bin/fleetmedic-agent.js and the systemd unit expect it). */
export const AGENT_BUNDLE = join(root, 'dist', 'agent', 'fleetmedic-agent.mjs');

export async function buildAgent(outfile = AGENT_BUNDLE): Promise<string> {
  await build({
    entryPoints: [join(root, 'agent', 'src', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    // CommonJS dependencies call require(); give the ESM bundle one.
    banner: {
      js: "import { createRequire as __fmCreateRequire } from 'node:module'; const require = __fmCreateRequire(import.meta.url);",
    },
    plugins: [
      {
        name: 'stub-unused-transports',
        setup(b) {
          b.onResolve({ filter: STUBBED }, (a) => ({ path: a.path, namespace: 'fm-stub' }));
          // An empty module: dockerode reads e.g. `require('ssh2').Client` at load time; only USING ssh://,
          // BuildKit sessions (uuid) or image builds from a context directory (tar-fs) would fail, and the agent
          // uses none of them (measured: −32 KB of bundle, about −0.9 MB of idle RSS for tar-fs and uuid).
          b.onLoad({ filter: /.*/, namespace: 'fm-stub' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
        },
      },
    ],
  });
  return outfile;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop()!)) {
  const out = await buildAgent();
  console.log(`built ${out}`);
}
