'use strict';
// Runs bin/perfprobe.js as a real process around real child processes.
// The profiler itself is replaced by a no-op module (PERFPROBE_REGISTER_PATH)
// so these tests only cover the wrapper: flags, env, exit codes, signals.

const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const CLI = path.join(__dirname, '..', 'bin', 'perfprobe.js');
const NOOP_REGISTER = path.join(__dirname, 'fixtures', 'noop-register.js');

function baseEnv(extra = {}) {
  const env = { ...process.env, PERFPROBE_DISABLE: '1', PERFPROBE_REGISTER_PATH: NOOP_REGISTER, ...extra };
  // Jest's own NODE_OPTIONS (if any) would blur the NODE_OPTIONS assertions.
  if (!('NODE_OPTIONS' in extra)) delete env.NODE_OPTIONS;
  return env;
}

function startCli(args, env = baseEnv()) {
  const proc = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  proc.stdout.on('data', (d) => (out.stdout += d));
  proc.stderr.on('data', (d) => (out.stderr += d));
  const done = new Promise((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code, signal) => resolve({ code, signal, ...out }));
  });
  return { proc, out, done };
}

const runCli = (args, env) => startCli(args, env).done;

test('propagates exit code 0', async () => {
  const r = await runCli(['--', process.execPath, '-e', 'process.exit(0)']);
  expect(r.code).toBe(0);
});

test('propagates exit code 3, resolving the command through PATH', async () => {
  const r = await runCli(['--', 'node', '-e', 'process.exit(3)']);
  expect(r.code).toBe(3);
  expect(r.stderr).toContain('perfprobe: no profile was written');
});

test('SIGINT is forwarded and the CLI exits 128+2', async () => {
  const { proc, out, done } = startCli(['--', 'node', '-e', "console.log('ready'); setInterval(() => {}, 1000)"]);
  // Wait until the child runs, so the signal reaches it rather than racing its start.
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child never started: ${JSON.stringify(out)}`)), 30000);
    proc.stdout.on('data', () => {
      if (out.stdout.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  proc.kill('SIGINT');
  const r = await done;
  expect(r.signal).toBeNull();
  expect(r.code).toBe(130);
});

test("keeps the user's NODE_OPTIONS and adds --require of the register module", async () => {
  const r = await runCli(
    ['--', 'node', '-e', 'console.log(process.env.NODE_OPTIONS)'],
    baseEnv({ NODE_OPTIONS: '--max-old-space-size=300' }),
  );
  expect(r.code).toBe(0);
  const seen = r.stdout.trim();
  expect(seen).toContain('--max-old-space-size=300');
  expect(seen).toContain('noop-register.js');
  expect(seen.indexOf('--max-old-space-size=300')).toBeLessThan(seen.indexOf('--require'));
});

test('points --require at register.js next to bin/ by default', async () => {
  const env = baseEnv();
  delete env.PERFPROBE_REGISTER_PATH;
  // Print from a shell so no Node process has to load the (maybe absent) register.js.
  const r = await runCli(['--', 'sh', '-c', 'printf %s "$NODE_OPTIONS"'], env);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`--require "${path.join(__dirname, '..', 'register.js')}"`);
});

test('sets PERFPROBE_* from flags', async () => {
  const script = "const e = process.env; console.log(JSON.stringify([e.PERFPROBE_OUT, e.PERFPROBE_FREQUENCY, e.PERFPROBE_NAME]))";
  const r = await runCli(['--out', 'profiles', '--frequency=250', '--name', 'x', '--', 'node', '-e', script]);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual([path.resolve('profiles'), '250', 'x']);
});

test('prints each profile folder listed in the report file, then deletes it', async () => {
  const script = `
    const fs = require('fs');
    fs.appendFileSync(process.env.PERFPROBE_REPORT_FILE, '/tmp/prof-a\\n/tmp/prof-b\\n');
    console.log(process.env.PERFPROBE_REPORT_FILE);`;
  const r = await runCli(['--', 'node', '-e', script]);
  expect(r.code).toBe(0);
  expect(r.stderr).toContain('perfprobe: profile written to /tmp/prof-a');
  expect(r.stderr).toContain('perfprobe: profile written to /tmp/prof-b');
  expect(fs.existsSync(r.stdout.trim())).toBe(false);
});

test('rejects a bad --frequency with exit code 2', async () => {
  for (const bad of ['0', '10001', '2.5', 'fast']) {
    const r = await runCli(['--frequency', bad, '--', 'node', '-e', '']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--frequency');
    expect(r.stderr).toContain(JSON.stringify(bad));
    expect(r.stderr).toContain('1 to 10000');
    expect(r.stderr).toContain('usage:');
  }
});

test.each([
  [['--bogus', '--', 'node', '-e', ''], '--bogus'],
  [['node', '-e', ''], 'unknown command "node"'],
  [['--out', 'x'], '"--"'],
  [['--'], 'missing command'],
  [[], 'usage:'],
])('usage error for %j exits 2', async (args, message) => {
  const r = await runCli(args);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(message);
});

test('--help exits 0 and documents every flag and env var', async () => {
  for (const flag of ['--help', '-h']) {
    const r = await runCli([flag]);
    expect(r.code).toBe(0);
    for (const word of [
      '--out',
      '--frequency',
      '--name',
      '--mixed',
      'PERFPROBE_OUT',
      'PERFPROBE_FREQUENCY',
      'PERFPROBE_NAME',
      'PERFPROBE_DISABLE=1',
      'PERFPROBE_QUIET=1',
      'PERFPROBE_MIXED',
      '"build:profile": "perfprobe -- rspack build"',
    ]) {
      expect(r.stdout).toContain(word);
    }
  }
});
