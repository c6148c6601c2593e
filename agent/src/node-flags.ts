/**
 * The node flags the agent runs under on a device. One list for the systemd unit's ExecStart (a unit test holds
 * them equal), the bench that measures the deployed command line, and the CLI's fallback when started without them.
 *  - `--no-opt --no-sparkplug`: V8's optimising tiers off; the agent is I/O-bound (see the note on node flags in
 *    cli.ts).
 *  - `--max-semi-space-size=1` (MB): V8 grows the young generation from 1 MB up to 16 MB per semi-space while a
 *    process allocates steadily, and the agent allocates a little on every check and cycle, so its RSS climbed for
 *    the first ten minutes or so of a busy run before it levelled off. Capped at 1 MB, the level is about 1 MB lower
 *    and reached sooner (30-minute soaks, 10 services, checks every 2 s: RSS slope over minutes 10–30 +0.030 MB/min
 *    against +0.055 without it); the extra scavenges cost nothing measurable on an agent that sleeps between checks.
 *    Only effective on node's command line (the heap is sized before any code runs).
 */
/** The flags that still take effect when set at run time (the CLI's fallback sets these). */
export const AGENT_RUNTIME_FLAGS: readonly string[] = ['--no-opt', '--no-sparkplug'];
export const AGENT_NODE_FLAGS: readonly string[] = [...AGENT_RUNTIME_FLAGS, '--max-semi-space-size=1'];
