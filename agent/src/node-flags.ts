/**
 * The node flags the agent runs under on a device: V8's optimising tiers off (the agent is I/O-bound; see the
 * note on node flags in cli.ts). One list for the systemd unit's ExecStart (a unit test holds them equal), the bench that
 * measures the deployed command line, and the CLI's fallback when started without them.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--no-opt', '--no-sparkplug'];
