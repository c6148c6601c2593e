/**
 * Stack traces that name the TypeScript sources, paid for only when an error is logged.
 *
 * The deployed bundles are minified and ship their source map (index.mjs.map) beside them. Node's
 * `--enable-source-maps` would make every stack readable, but it parses the whole map (0.7-0.9 MB) while the
 * bundle loads, on every cold start (`npm run bench -- bundles` shows the figure). Instead, the first logged
 * error reads the map of each bundle its stack goes through, once per process, and frames pointing into a
 * bundle are rewritten to `functions/...ts:line:column`. Files without a map (tsx in the local fleet, which maps
 * on its own; Node internals) are left as they are.
 */
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

const mapped = new WeakSet<Error>();
const maps = new Map<string, SourceMap | null>();

function sourceMapOf(file: string): SourceMap | null {
  let map = maps.get(file);
  if (map === undefined) {
    try {
      map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')));
    } catch {
      map = null;
    }
    maps.set(file, map);
  }
  return map;
}

/**
 * A source's path from the project root: the map names it relative to wherever the bundle was built
 * (`../../../work/app/functions/lib/config.ts`), which says nothing to a reader of the log.
 */
function projectPath(source: string): string {
  const fromRoot = /(?:^|\/)((?:functions|node_modules|cdk|infra)\/.*)$/.exec(source);
  return fromRoot ? fromRoot[1]! : source.replace(/^(?:\.\.\/|\.\/)+/, '');
}

// `at name (file:///var/task/index.mjs:1:2345)` or `at file:///var/task/index.mjs:1:2345`.
const FRAME = /((?:file:\/\/)?\/[^\s()]+?\.m?js):(\d+):(\d+)/;

function mapFrame(line: string): string {
  const m = FRAME.exec(line);
  if (!m) return line;
  const [location, fileOrUrl, lineNo, column] = m as unknown as [string, string, string, string];
  const file = fileOrUrl.startsWith('file://') ? fileURLToPath(fileOrUrl) : fileOrUrl;
  const map = sourceMapOf(file);
  if (!map) return line;
  const entry = map.findEntry(Number(lineNo) - 1, Number(column) - 1) as {
    originalSource?: string;
    originalLine?: number;
    originalColumn?: number;
  };
  if (!entry.originalSource) return line;
  return line.replace(
    location,
    `${projectPath(entry.originalSource)}:${entry.originalLine! + 1}:${entry.originalColumn! + 1}`,
  );
}

/** Rewrites the error's stack (and its causes') in place to name the sources; once per error. */
export function sourceMapStack<T>(value: T): T {
  if (!(value instanceof Error) || mapped.has(value)) return value;
  mapped.add(value);
  if (typeof value.stack === 'string') {
    try {
      value.stack = value.stack.split('\n').map(mapFrame).join('\n');
    } catch {
      // A stack that cannot be mapped is still worth logging as it is.
    }
  }
  if (value.cause instanceof Error) sourceMapStack(value.cause);
  return value;
}
