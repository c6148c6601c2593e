/**
 * What the agent benches share: the long-running web service they supervise, and reading a process's memory.
 */
import { readFile } from 'node:fs/promises';

/** A busybox httpd that stays up and stops on SIGTERM: the service each benched agent supervises. */
export const HTTPD = [
  'sh',
  '-c',
  'trap "exit 0" TERM; mkdir -p /www && echo ok > /www/index.html && httpd -p 8080 -h /www; while :; do sleep 3600 & wait $!; done',
];

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resident set size of a process, in KiB (Linux /proc). */
export async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

/** `run` arguments for an agent bundle in offline mode (a target file, no cloud), its containers named by its id. */
export function offlineRunArgs(o: { bundle: string; targetFile: string; stateDir: string; agentId: string }): string[] {
  return [
    o.bundle,
    'run',
    '--target-file',
    o.targetFile,
    '--state-dir',
    o.stateDir,
    '--agent-id',
    o.agentId,
    '--name-prefix',
    `${o.agentId}_`,
    '--log-json',
  ];
}
