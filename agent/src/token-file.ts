/**
 * The device token, from its file, kept current: the file is checked (one stat, no read) before each API call and
 * re-read when it changed, so a token rotated by an operator (`fleetmedic device rotate-token --token-file`, which
 * replaces the file atomically) is used from the next call on, without restarting the agent. A file that is
 * missing, unreadable or empty for a moment keeps the last good token in use (a half-done manual edit must not
 * cost the link), and the old token stays valid for the rotation's overlap anyway (README "Rotating a device
 * token").
 */
import { readFileSync, statSync } from 'node:fs';

export class TokenFile {
  private token: string;
  private stamp: string;

  /** Reads the file now; throws when it cannot be read or is empty (a configuration error at startup). */
  constructor(
    readonly path: string,
    private readonly onChange: (path: string) => void = () => {},
  ) {
    this.stamp = this.statStamp() ?? '';
    this.token = readFileSync(path, 'utf8').trim();
    if (!this.token) throw new Error(`${path} is empty`);
  }

  /** The token to send now. */
  current(): string {
    const stamp = this.statStamp();
    if (stamp === undefined || stamp === this.stamp) return this.token;
    try {
      const token = readFileSync(this.path, 'utf8').trim();
      if (!token) return this.token;
      this.stamp = stamp;
      if (token !== this.token) {
        this.token = token;
        this.onChange(this.path);
      }
    } catch {
      // Keep the last good token; the next call looks again.
    }
    return this.token;
  }

  /** Identity + size + mtime: an atomic replace (new inode) or an in-place edit both change it. */
  private statStamp(): string | undefined {
    try {
      const st = statSync(this.path);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return undefined;
    }
  }
}
