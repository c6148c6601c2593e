/**
 * Which target provider and which modules a `fleetmedic-agent run` gets. The one place the optional parts are
 * plugged in: health checks and auto-recovery (agent/src/health, agent/src/recovery) and the cloud link
 * (agent/src/cloud) add their AgentModule / TargetProvider here.
 */
import type Docker from 'dockerode';
import type { AgentModule } from './agent-module.js';
import type { Clock } from './clock.js';
import { ConfigError, type AgentConfig } from './config.js';
import type { Logger } from './log.js';
import { FileTargetProvider } from './target/file-provider.js';
import type { TargetProvider } from './target/provider.js';
import { TokenFile } from './token-file.js';
// ── health checks, auto-recovery, cloud link ──
import { CloudModule, cloudOptionsFromEnv } from './cloud/module.js';
import { RecoveryModule, recoveryOptionsFromEnv } from './recovery/module.js';

export interface WiringDeps {
  docker: Docker;
  log: Logger;
  clock: Clock;
}

export interface Wiring {
  targetProvider?: TargetProvider;
  modules: AgentModule[];
}

export function wire(config: AgentConfig, deps: WiringDeps): Promise<Wiring> {
  const modules: AgentModule[] = [];
  let targetProvider: TargetProvider | undefined;
  if (config.targetFile) targetProvider = new FileTargetProvider(config.targetFile);
  // ── health checks, auto-recovery, cloud link ──
  const recovery = new RecoveryModule(recoveryOptionsFromEnv());
  modules.push(recovery);
  if (config.cloud) {
    // The cloud link registers its TargetProvider (unless --target-file pins the target) and its module.
    let tokenFile: TokenFile;
    try {
      // Re-read when it changes: a rotated token is used without a restart (agent/src/token-file.ts).
      tokenFile = new TokenFile(config.cloud.tokenFile, (path) =>
        deps.log.info({ tokenFile: path }, 'device token file changed: using the new token'),
      );
    } catch (err) {
      throw new ConfigError(`cannot read --token-file ${config.cloud.tokenFile}: ${(err as Error).message}`);
    }
    const token = () => tokenFile.current();
    const cloud = new CloudModule({
      apiUrl: config.cloud.apiUrl,
      deviceId: config.cloud.deviceId,
      token,
      ...cloudOptionsFromEnv(),
      recovery: () => recovery.controller,
      recoveries: () => recovery.recoveries(),
      ...(config.cloud.pushUrl ? { pushUrl: config.cloud.pushUrl } : {}),
    });
    modules.push(cloud);
    targetProvider ??= cloud.provider;
  }
  if (!targetProvider)
    throw new ConfigError('no target source: pass --target-file <file> or --api-url/--device-id/--token-file');
  return Promise.resolve({ targetProvider, modules });
}
