/**
 * Per-file setup of the job-queue tests: the file's own tables and queues on the emulator (createTestInfra), one
 * SQS client for stepping deliveries (support/esm.ts), and the real dispatcher with no redelivery backoff, so a
 * failed message is offered again at once (the backoff itself is unit-tested).
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { createDispatcher } from '../../../../functions/services/job-dispatch.js';
import { createTestInfra, type TestInfra } from '../../../support/infra.js';

export interface JobsFixture {
  infra: TestInfra;
  sqs: SQSClient;
  dispatcher: ReturnType<typeof createDispatcher>;
  close(): Promise<void>;
}

export async function createJobsFixture(extraEnv: Record<string, string> = {}): Promise<JobsFixture> {
  const infra = await createTestInfra(extraEnv);
  const sqs = new SQSClient({});
  return {
    infra,
    sqs,
    dispatcher: createDispatcher({ backoff: { baseSeconds: 0, maxSeconds: 0 } }),
    async close() {
      sqs.destroy();
      await infra.close();
    },
  };
}
