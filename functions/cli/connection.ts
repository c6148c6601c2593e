/**
 * Which API the CLI talks to and how it authenticates:
 *   --api-url / FLEETMEDIC_API_URL, else the local fleet's URL from .fleetmedic/local.json (written by npm start;
 *   FLEETMEDIC_LOCAL_DIR names another directory, and a fleet started with --state-dir leaves a pointer to its own);
 *   --token / FLEETMEDIC_OPERATOR_TOKEN (bearer), else the local fleet's token when talking to the local fleet,
 *   else SigV4 with the default AWS credential chain (the deployed API's operator routes use IAM).
 */
import { authError, unreachableError, usageError } from './errors.js';
import { localConfigPath, processAlive, readLocalConfig, stateDir } from './local-config.js';

export type AuthMode = { kind: 'bearer'; token: string } | { kind: 'iam' };

export interface Connection {
  apiUrl: string;
  auth: AuthMode;
  /** Where the settings came from, for error messages. */
  source: 'flag' | 'env' | 'local';
}

export interface ConnectionFlags {
  apiUrl?: string;
  token?: string;
  auth?: string;
}

export function resolveConnection(
  flags: ConnectionFlags,
  env: Record<string, string | undefined> = process.env,
): Connection {
  const dir = stateDir(env);
  const local = readLocalConfig(dir);
  const explicit = flags.apiUrl ?? env.FLEETMEDIC_API_URL;
  let apiUrl: string;
  let source: Connection['source'];
  if (explicit) {
    apiUrl = explicit;
    source = flags.apiUrl ? 'flag' : 'env';
  } else if (local) {
    if (!local.pid || !processAlive(local.pid)) {
      throw unreachableError(
        `the local fleet is not running${local.stoppedAt ? ` (stopped ${local.stoppedAt})` : ''}. Start it with \`npm start\`, or pass --api-url for a deployed API.`,
      );
    }
    apiUrl = local.apiUrl;
    source = 'local';
  } else {
    throw unreachableError(
      `no API configured: start the local fleet with \`npm start\` (it writes ${localConfigPath(dir)}), or pass --api-url / set FLEETMEDIC_API_URL.`,
    );
  }
  try {
    const u = new URL(apiUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw usageError(`invalid API URL '${apiUrl}'`);
  }
  apiUrl = apiUrl.replace(/\/+$/, '');

  const mode = flags.auth ?? env.FLEETMEDIC_AUTH;
  if (mode !== undefined && mode !== 'iam' && mode !== 'bearer')
    throw usageError(`--auth must be iam or bearer, not '${mode}'`);
  const token =
    flags.token ??
    env.FLEETMEDIC_OPERATOR_TOKEN ??
    (local && sameOrigin(local.apiUrl, apiUrl) ? local.operatorToken : undefined);
  if (mode === 'iam') return { apiUrl, auth: { kind: 'iam' }, source };
  if (mode === 'bearer' && !token)
    throw authError('--auth bearer needs a token: --token or FLEETMEDIC_OPERATOR_TOKEN', 'missing_token');
  return { apiUrl, auth: token ? { kind: 'bearer', token } : { kind: 'iam' }, source };
}

export function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || /^127\./.test(host);
  } catch {
    return false;
  }
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}
