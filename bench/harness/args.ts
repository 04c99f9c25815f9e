/**
 * The benchmark runners' command-line options: `--name=value`, `--name value` or a bare `--name`.
 */
export type Args = ReadonlyMap<string, string | true>;

export function parseArgs(argv: readonly string[] = process.argv.slice(2)): Args {
  const args = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith('--')) throw new Error(`unexpected argument "${token}"`);
    const eq = token.indexOf('=');
    if (eq >= 0) {
      args.set(token.slice(2, eq), token.slice(eq + 1));
      continue;
    }
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      args.set(token.slice(2), next);
      i++;
    } else {
      args.set(token.slice(2), true);
    }
  }
  return args;
}

export function stringArg(args: Args, name: string): string | undefined {
  const value = args.get(name);
  if (value === true) throw new Error(`--${name} needs a value`);
  return value;
}

export function numberArg(args: Args, name: string, fallback: number): number {
  const value = stringArg(args, name);
  if (value === undefined) return fallback;
  const n = Number(value.replaceAll('_', ''));
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${value}"`);
  return n;
}

export function numberListArg(args: Args, name: string, fallback: readonly number[]): number[] {
  const value = stringArg(args, name);
  if (value === undefined) return [...fallback];
  return value.split(',').map((part) => {
    const n = Number(part.trim().replaceAll('_', ''));
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name}: "${part}" is not a positive integer`);
    return n;
  });
}
