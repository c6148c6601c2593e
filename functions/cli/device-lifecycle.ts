/** `fleetmedic device rotate-token` / `device remove`: what they print, and how a new token reaches a file. */
import { chmodSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type * as z from 'zod/mini';
import type { DecommissionedDevice, RotatedDeviceToken } from '../contract/credentials.js';
import { paint, type Style } from './format.js';

/**
 * Replace a token file atomically (temp file in the same directory, then rename), mode 600: an agent that re-reads
 * the file while it changes sees the old token or the new one, never half of one.
 */
export function writeTokenFile(file: string, token: string): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export function rotatedView(
  r: z.output<typeof RotatedDeviceToken>,
  tokenFile: string | undefined,
  style: Style,
): string {
  const lines = [`New token for ${paint(r.deviceId, 'bold', style)} (rotated ${r.rotatedAt}).`];
  if (tokenFile) lines.push(`Written to ${tokenFile} (mode 600). It is not shown again.`);
  else
    lines.push(
      "Shown only this once; put it in the device's token file (the agent picks it up without a restart):",
      `  ${r.token}`,
    );
  lines.push(
    r.previousTokenValidUntil
      ? `The previous token keeps working until ${r.previousTokenValidUntil}.`
      : 'The previous token no longer works (warm API containers may accept it for up to a minute).',
  );
  return lines.join('\n');
}

export function decommissionedView(r: z.output<typeof DecommissionedDevice>, style: Style): string {
  return [
    `Decommissioned ${paint(r.deviceId, 'bold', style)} at ${r.decommissionedAt}: its tokens no longer work (within a minute everywhere).`,
    `${r.canceledJobs} open job(s) cancelled. What is left of it expires at ${r.itemsExpireAt}; the id can be registered again after that.`,
  ].join('\n');
}
