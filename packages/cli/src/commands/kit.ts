/**
 * What every flags-as-code command shares: the connection options, `--json`, exit codes, one-line errors,
 * colours and progress. A command registers itself with `program.command(…)`, adds `connection(cmd)` when
 * it talks to a server and `machineOutput(cmd)` for `--json`, and ends through `finish` or `fail`.
 *
 * Exit codes: 0 fine, 1 differences or findings, 2 usage or server error (commander's usage errors exit 2 too:
 * main sets `exitOverride` accordingly).
 */
import { styleText } from 'node:util';
import type { Command } from 'commander';

export const EXIT = { ok: 0, findings: 1, error: 2 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface Connection {
  server: string;
  token: string | undefined;
}

/** Adds `--server URL` (SWITCHYARD_URL, default http://localhost:8080) and `--token` (SWITCHYARD_TOKEN). */
export function connection(command: Command): Command {
  return command
    .option(
      '--server <url>',
      'the Switchyard server (or SWITCHYARD_URL)',
      process.env.SWITCHYARD_URL ?? 'http://localhost:8080',
    )
    .option('--token <token>', 'an API token (or SWITCHYARD_TOKEN)', process.env.SWITCHYARD_TOKEN);
}

/** Reads the connection options, refusing a server that is not an http(s) URL with one line (exit 2). */
export function connectionOf(options: { server?: string; token?: string }): Connection {
  const server = options.server ?? 'http://localhost:8080';
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    fail(`--server: "${server}" is not a URL (e.g. http://localhost:8080)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    fail(`--server: "${server}" is not an http:// or https:// URL`);
  }
  return { server: server.replace(/\/+$/, ''), token: options.token };
}

/** Adds `--json`: machine output on stdout, nothing else there. */
export function machineOutput(command: Command): Command {
  return command.option('--json', 'print machine-readable JSON on stdout');
}

/** Colours only on a terminal and never with NO_COLOR (styleText checks both for the stream given). */
export function paint(
  format: Parameters<typeof styleText>[0],
  text: string,
  stream: NodeJS.WriteStream = process.stdout,
): string {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return text;
  if (!stream.isTTY) return text;
  return styleText(format, text);
}

/** Prints one line on stderr naming what went wrong and where, and exits 2. */
export function fail(message: string): never {
  process.stderr.write(`switchyard: ${message}\n`);
  process.exit(EXIT.error);
}

/** Prints `value` as JSON on stdout and exits with `code` once stdout has drained. */
export function finishJson(value: unknown, code: ExitCode = EXIT.ok): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`, () => process.exit(code));
}

/**
 * A progress line on stderr for long work (done/total, rate, ETA), redrawn at most every 200 ms, only on a
 * terminal; `end()` clears it.
 */
export function progress(label: string, total: number): { tick(done: number): void; end(): void } {
  const stream = process.stderr;
  const started = Date.now();
  let last = 0;
  const draw = (done: number) => {
    const elapsed = (Date.now() - started) / 1000;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const eta = rate > 0 ? Math.ceil((total - done) / rate) : undefined;
    const width = 24;
    const filled = total > 0 ? Math.round((done / total) * width) : 0;
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    stream.write(
      `\r${label} ${bar} ${done}/${total} ${Math.round(rate)}/s${eta === undefined ? '' : ` ETA ${eta}s`}  `,
    );
  };
  return {
    tick(done) {
      if (!stream.isTTY) return;
      const now = Date.now();
      if (now - last < 200 && done < total) return;
      last = now;
      draw(done);
    },
    end() {
      if (stream.isTTY) stream.write('\r\x1b[K');
    },
  };
}
