/** Entry of the bundled agent (agent/build.ts) and of bin/fleetmedic-agent.js. */
import { main } from './cli.js';

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
