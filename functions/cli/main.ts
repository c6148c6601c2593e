/** Entry point of `fleetmedic` (bin/fleetmedic.js runs this). */
import { runCli } from './program.js';

const code = await runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
  now: () => Date.now(),
  color: !!process.stdout.isTTY && !process.env.NO_COLOR,
});
process.exitCode = code;
