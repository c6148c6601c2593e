/**
 * Capturing the CloudWatch Embedded Metric Format lines Powertools Metrics writes to stdout, so a test can read
 * the metrics the real handlers emit (values and dimensions). Captured lines are not printed; everything else
 * on stdout passes through. Start it before the handlers flush, `restore()` it in `after`.
 */
export interface EmfCapture {
  /** Every EMF document seen so far, in order (empty it with `lines.length = 0`). */
  lines: Record<string, any>[];
  /** The sum of metric `name` over the captured lines. */
  total(name: string): number;
  /** Put the real stdout writer back. */
  restore(): void;
}

export function captureEmf(): EmfCapture {
  const lines: Record<string, any>[] = [];
  const realWrite = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : '';
    if (text.startsWith('{"_aws"')) {
      for (const line of text.split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      return true;
    }
    return (realWrite as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  return {
    lines,
    total: (name) => lines.reduce((n, e) => n + (typeof e[name] === 'number' ? (e[name] as number) : 0), 0),
    restore() {
      process.stdout.write = realWrite;
    },
  };
}
