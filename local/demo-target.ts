/**
 * The demo target state: a good service (busybox httpd with an HTTP health check) next to a
 * service whose image tag does not exist, so the newcomer sees ImagePullBackOff, the good one running, and
 * self-healing once the tag is fixed.
 */
import type { TargetStateInput } from '../functions/contract/target-state.js';

/** Images come from the lab registry when there is one (container-lab), else from Docker Hub. */
export function demoImages(labRegistry = process.env.LAB_REGISTRY): { good: string; bad: string; fixed: string } {
  if (labRegistry)
    return {
      good: `${labRegistry}/lab/busybox:1`,
      bad: `${labRegistry}/lab/busybox:missing`,
      fixed: `${labRegistry}/lab/busybox:2`,
    };
  return {
    good: 'docker.io/library/busybox:1.36',
    bad: 'docker.io/library/busybox:this-tag-does-not-exist',
    fixed: 'docker.io/library/busybox:1.37',
  };
}

export function demoTarget(images = demoImages(), opts: { fixed?: boolean } = {}): TargetStateInput {
  return {
    services: {
      web: {
        image: images.good,
        command: ['httpd', '-f', '-p', '8080', '-h', '/etc'],
        healthCheck: {
          kind: 'http',
          port: 8080,
          path: '/hostname',
          intervalSeconds: 10,
          timeoutSeconds: 2,
          failureThreshold: 3,
          startupDelaySeconds: 2,
        },
        restartPolicy: 'no',
      },
      worker: {
        image: opts.fixed ? images.fixed : images.bad,
        command: ['sh', '-c', 'while true; do sleep 3600; done'],
        dependsOn: ['web'],
      },
    },
    rollbackWindowSeconds: 300,
  };
}
