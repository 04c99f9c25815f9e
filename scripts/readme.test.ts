/**
 * The README's first example works as written: its first `sh` block after "TOKEN=" runs with bash and curl
 * against a real `switchyard serve`, and the flag it enables in staging then evaluates to true there
 * (through OFREP, as an SDK would see it) and stays false in production. Edit the README and this runs it.
 * Likewise spec/README.md's segment document is one the schema accepts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { formatIssues, parsePolicyText, validateSegment } from '@switchyard/core';
import { freePort, kill, type Started, startSwitchyard } from '../packages/cli/src/testing/processes.js';

const ROOT = join(import.meta.dirname, '..');
const TOKEN = `sy_${'5e'.repeat(8)}_${'r'.repeat(43)}`;

/** The first ```sh block of the README that sets TOKEN=, as written. */
function firstExample(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const [, block] of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    if (block!.includes('TOKEN=')) return block!;
  }
  throw new Error('README.md has no ```sh block with TOKEN=');
}

const data = mkdtempSync(join(tmpdir(), 'switchyard-readme-'));
let server: Started | undefined;
after(async () => {
  if (server) await kill(server.child, 'SIGTERM');
  rmSync(data, { recursive: true, force: true });
});

describe("the README's first example", () => {
  it('enables the flag in staging, which then serves true there and false in production', async () => {
    const example = firstExample();
    const flagKey = /"key":"([^"]+)"/.exec(example)?.[1];
    assert.ok(flagKey, `no flag key in the example:\n${example}`);
    const port = await freePort();
    server = await startSwitchyard(['serve', '--port', String(port), '--data', data], 'API docs:', {
      SWITCHYARD_ADMIN_TOKEN: TOKEN,
    });
    const base = `http://127.0.0.1:${port}`;

    // As written, but for the token a reader pastes and the port this server got.
    const script = example
      .replace(/^TOKEN=.*$/m, `TOKEN=${TOKEN}`)
      .replaceAll('localhost:8080', `127.0.0.1:${port}`);
    assert.notEqual(script, example);
    const ran = spawnSync('bash', ['-e', '-c', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(ran.status, 0, ran.stderr);
    assert.doesNotMatch(ran.stdout, /"status":\s*[45]\d\d/, `a call of the example failed:\n${ran.stdout}`);

    const evaluate = async (environment: string) => {
      const key = await fetch(`${base}/api/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          name: `readme-${environment}`,
          role: 'sdk-client',
          environments: [environment],
        }),
      });
      assert.equal(key.status, 201, await key.clone().text());
      const { token } = (await key.json()) as { token: string };
      const answer = await fetch(`${base}/ofrep/v1/evaluate/flags/${encodeURIComponent(flagKey)}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ context: { targetingKey: 'reader' } }),
      });
      assert.equal(answer.status, 200, await answer.clone().text());
      return ((await answer.json()) as { value: unknown }).value;
    };
    assert.equal(await evaluate('staging'), true, 'the example enables the flag in staging: it serves true');
    assert.equal(await evaluate('production'), false);
  });
});

describe("spec/README.md's segment example", () => {
  it('is a segment document the schema and the validator accept', () => {
    const spec = readFileSync(join(ROOT, 'spec/README.md'), 'utf8');
    const section = spec.slice(spec.indexOf('**Segments.**'));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(yaml, 'spec/README.md has a yaml block after **Segments.**');
    const parsed = parsePolicyText(yaml, 'spec/README.md');
    assert.ok(parsed.ok, parsed.ok ? '' : formatIssues(parsed.issues));
    const checked = validateSegment(parsed.documents[0]);
    assert.ok(checked.ok, checked.ok ? '' : formatIssues(checked.issues));
    assert.equal(checked.value.environments.staging?.rules?.length, 2);
  });
});
