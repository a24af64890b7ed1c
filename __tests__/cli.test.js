'use strict';
// Runs bin/perfprobe (a sh script that execs the command) as a real process around real commands.
// The profiler itself is replaced by a no-op module (PERFPROBE_REGISTER_PATH) so these tests only
// cover the CLI: flags, environment, exec, exit codes, signals. Profiling through the CLI is tested
// in rspack.test.js, attribution.test.js and lifecycle.test.js.

const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const { CLI, tmpDir } = require('./helpers');

const NOOP_REGISTER = path.join(__dirname, 'fixtures', 'noop-register.js');

function baseEnv(extra = {}) {
  const env = { ...process.env, PERFPROBE_DISABLE: '1', PERFPROBE_REGISTER_PATH: NOOP_REGISTER, ...extra };
  // Jest's own NODE_OPTIONS (if any) would blur the NODE_OPTIONS assertions.
  if (!('NODE_OPTIONS' in extra)) delete env.NODE_OPTIONS;
  return env;
}

// The script runs under the machine's /bin/sh (dash on Debian) through its #! line, and under bash
// in POSIX mode, which is /bin/sh on macOS.
const SHELLS = [
  ['/bin/sh', []],
  ['bash --posix', ['bash', '--posix']],
];
let shell = [];

function startCli(args, { env = baseEnv(), cli = CLI, cwd, input } = {}) {
  const [command, ...argv] = shell.length ? [...shell, cli, ...args] : [cli, ...args];
  const proc = spawn(command, argv, { env, cwd, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (input !== undefined) proc.stdin.end(input);
  const out = { stdout: '', stderr: '' };
  proc.stdout.on('data', (d) => (out.stdout += d));
  proc.stderr.on('data', (d) => (out.stderr += d));
  const done = new Promise((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code, signal) => resolve({ code, signal, ...out }));
  });
  return { proc, out, done };
}

const runCli = (args, opts) => startCli(args, opts).done;

/** Resolves once the command printed `ready`. */
function whenReady({ proc, out }) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the command never started: ${JSON.stringify(out)}`)), 30000);
    proc.stdout.on('data', () => {
      if (out.stdout.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

describe.each(SHELLS)('run by %s', (_, shellArgv) => {
  beforeAll(() => {
    shell = shellArgv;
  });

  test('propagates exit code 0', async () => {
    const r = await runCli(['--', process.execPath, '-e', 'process.exit(0)']);
    expect(r.code).toBe(0);
  });

  test('propagates exit code 3, resolving the command through PATH', async () => {
    const r = await runCli(['--', 'node', '-e', 'process.exit(3)']);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe('');
  });

  test('the command takes perfprobe\'s place: same pid, no wrapper process', async () => {
    const cli = startCli(['--', 'node', '-e', 'console.log(process.pid)']);
    const r = await cli.done;
    expect(r.code).toBe(0);
    expect(Number(r.stdout.trim())).toBe(cli.proc.pid);
  });

  test('a signal sent to perfprobe reaches the command itself', async () => {
    const cli = startCli(['--', 'node', '-e', "process.on('SIGTERM', () => process.exit(42)); console.log('ready'); setInterval(() => {}, 1000)"]);
    await whenReady(cli);
    cli.proc.kill('SIGTERM');
    expect((await cli.done).code).toBe(42);
  });

  test('SIGINT kills the command as it would without perfprobe', async () => {
    const cli = startCli(['--', 'node', '-e', "console.log('ready'); setInterval(() => {}, 1000)"]);
    await whenReady(cli);
    cli.proc.kill('SIGINT');
    const r = await cli.done;
    expect({ code: r.code, signal: r.signal }).toEqual({ code: null, signal: 'SIGINT' });
  });

  test("the command reads perfprobe's stdin", async () => {
    const r = await runCli(['--', 'node', '-e', "process.stdin.pipe(process.stdout)"], { input: 'from stdin\n' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('from stdin\n');
  });

  test('arguments reach the command exactly as given, spaces and quotes included', async () => {
    const args = ['a b', '"quoted"', "it's", '$HOME', '*', '', '--out'];
    const r = await runCli(['--', 'node', '-e', 'console.log(JSON.stringify(process.argv.slice(1)))', ...args]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(args);
  });

  test("keeps the user's NODE_OPTIONS and adds --require of the register module", async () => {
    const r = await runCli(['--', 'node', '-e', 'console.log(process.env.NODE_OPTIONS)'], { env: baseEnv({ NODE_OPTIONS: '--max-old-space-size=300' }) });
    expect(r.code).toBe(0);
    const seen = r.stdout.trim();
    expect(seen).toContain('--max-old-space-size=300');
    expect(seen).toContain('noop-register.js');
    expect(seen.indexOf('--max-old-space-size=300')).toBeLessThan(seen.indexOf('--require'));
  });

  test('points --require at register.js next to bin/ by default, also when run through a symlink as npm links it', async () => {
    const env = baseEnv();
    delete env.PERFPROBE_REGISTER_PATH;
    const binDir = path.join(tmpDir('cli-link'), 'node_modules', '.bin');
    fs.mkdirSync(binDir, { recursive: true });
    fs.symlinkSync(path.relative(binDir, CLI), path.join(binDir, 'perfprobe'));
    for (const cli of [CLI, path.join(binDir, 'perfprobe')]) {
      // Print from a shell so no Node process has to load the (maybe absent) register.js.
      const r = await runCli(['--', 'sh', '-c', 'printf %s "$NODE_OPTIONS"'], { env, cli });
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`--require "${path.join(__dirname, '..', 'register.js')}"`);
    }
  });

  test('run by a relative path with CDPATH set, it still finds its own folder', async () => {
    const elsewhere = tmpDir('cli-cdpath');
    fs.mkdirSync(path.join(elsewhere, 'bin'));
    const env = { ...baseEnv(), CDPATH: elsewhere };
    delete env.PERFPROBE_REGISTER_PATH;
    const root = path.join(__dirname, '..');
    const r = await runCli(['--', 'sh', '-c', 'printf %s "$NODE_OPTIONS"'], { env, cli: path.join('bin', 'perfprobe'), cwd: root });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`--require "${path.join(fs.realpathSync(root), 'register.js')}"`);
  });

  test('a register path with spaces, quotes and backslashes is quoted so that node loads it', async () => {
    const dir = path.join(tmpDir('cli-quote'), 'a "b" \\c d');
    fs.mkdirSync(dir, { recursive: true });
    const register = path.join(dir, 'register.js');
    fs.writeFileSync(register, "globalThis.preloaded = __filename;\n");
    const r = await runCli(['--', 'node', '-e', 'console.log(globalThis.preloaded)'], { env: baseEnv({ PERFPROBE_REGISTER_PATH: register }) });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(register);
  });

  test('sets PERFPROBE_* from flags; a relative --out is made absolute', async () => {
    const script = "const e = process.env; console.log(JSON.stringify([e.PERFPROBE_OUT, e.PERFPROBE_FREQUENCY, e.PERFPROBE_NAME, e.PERFPROBE_MODE, e.PERFPROBE_WALL_FREQUENCY]))";
    const cwd = tmpDir('cli-cwd');
    const r = await runCli(['--out', './profiles', '--frequency=0250', '--name', 'x.y', '--mode', 'both', '--wall-frequency', '7', '--', 'node', '-e', script], { cwd });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([path.join(fs.realpathSync(cwd), 'profiles'), '250', 'x.y', 'both', '7']);
  });

  test('sets nothing for flags not given; `run` may name the default command', async () => {
    const script = "console.log(JSON.stringify(Object.keys(process.env).filter((k) => k.startsWith('PERFPROBE_') && !['PERFPROBE_DISABLE', 'PERFPROBE_REGISTER_PATH'].includes(k))))";
    const r = await runCli(['run', '--', 'node', '-e', script]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
  });

  test('--mixed adds the flags for mixed-mode stacks on Linux', async () => {
    // Node 24 and 26 write isolate-*-v8.log into the working folder with these flags: not the repository's.
    const cwd = tmpDir('cli-mixed');
    const r = await runCli(['--mixed', '--', 'node', '-e', 'console.log(JSON.stringify([process.env.NODE_OPTIONS, process.env.PERFPROBE_MIXED, process.pid]))'], { cwd });
    expect(r.code).toBe(0);
    const [nodeOptions, mixed, pid] = JSON.parse(r.stdout);
    // The no-op register here does not load the probe, which would remove V8's map at exit.
    fs.rmSync(`/tmp/perf-${pid}.map`, { force: true });
    if (process.platform === 'linux') {
      expect(nodeOptions).toMatch(/--require ".*noop-register\.js" --perf-basic-prof-only-functions --interpreted-frames-native-stack$/);
      expect(mixed).toBe('1');
    } else {
      expect(r.stderr).toContain('--mixed is only supported on Linux');
      expect(mixed).toBeUndefined();
    }
  });

  test('a command that is not found exits 127, one that cannot be executed 126, each with a message', async () => {
    const notFound = await runCli(['--', 'perfprobe-no-such-command', 'x']);
    expect(notFound.code).toBe(127);
    expect(notFound.stderr).toBe('perfprobe: cannot run "perfprobe-no-such-command": command not found\n');
    const file = path.join(tmpDir('cli-noexec'), 'script.sh');
    fs.writeFileSync(file, 'echo hi\n', { mode: 0o644 });
    for (const command of [file, path.dirname(file)]) {
      const r = await runCli(['--', command]);
      expect(r.code).toBe(126);
      expect(r.stderr).toBe(`perfprobe: cannot run "${command}": not an executable file\n`);
    }
  });

  test.each([
    ['--frequency', ['0', '10001', '2.5', 'fast', '', '99999999999999999999'], '1 to 10000'],
    ['--wall-frequency', ['0', '1001', '-1'], '1 to 1000'],
    ['--mode', ['fast', ''], 'cpu, wall, both'],
  ])('rejects a bad %s with exit code 2, naming the value and the accepted ones', async (flag, values, accepted) => {
    for (const bad of values) {
      const r = await runCli([`${flag}=${bad}`, '--', 'node', '-e', '']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`invalid value for ${flag}: ${JSON.stringify(bad)}`);
      expect(r.stderr).toContain(accepted);
      expect(r.stderr).toContain('usage:');
    }
  });

  test.each([
    [['--bogus', '--', 'node', '-e', ''], 'unknown flag "--bogus"'],
    [['node', '-e', ''], 'unknown command "node"'],
    [['--out', 'x'], 'missing "--"'],
    [['--out', '--', 'node'], 'flag --out needs a value'],
    [['--out='], '--out needs a non-empty directory'],
    [['--mixed=1', '--', 'node'], '--mixed takes no value'],
    [['--'], 'missing command'],
    [[], 'usage:'],
  ])('usage error for %j exits 2', async (args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('Run "perfprobe --help" for details.');
  });

  test('--help exits 0 and documents every flag and env var', async () => {
    for (const args of [['--help'], ['-h'], ['--out', 'x', '--help', '--', 'node']]) {
      const r = await runCli(args);
      expect(r.code).toBe(0);
      for (const word of [
        '--out',
        '--frequency',
        '--name',
        '--mode',
        '--wall-frequency',
        '--mixed',
        'PERFPROBE_OUT',
        'PERFPROBE_FREQUENCY',
        'PERFPROBE_NAME',
        'PERFPROBE_DISABLE=1',
        'PERFPROBE_QUIET=1',
        'PERFPROBE_MIXED',
        'PERFPROBE_REPORT_FILE',
        '"build:profile": "perfprobe -- rspack build"',
      ]) {
        expect(r.stdout).toContain(word);
      }
    }
  });
});

describe('as npm installs it', () => {
  test('node_modules/.bin/perfprobe (a symlink) and npx find register.js and lib/cli.js in the installed package', () => {
    const { execFileSync } = require('child_process');
    const work = tmpDir('cli-pack');
    const tarball = execFileSync('npm', ['pack', path.join(__dirname, '..'), '--silent', '--pack-destination', work], { encoding: 'utf8' }).trim().split('\n').pop();
    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), '{"name":"app","version":"1.0.0","private":true}\n');
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', path.join(work, tarball)], { cwd: app, stdio: 'ignore' });
    const bin = path.join(app, 'node_modules', '.bin', 'perfprobe');
    expect(fs.lstatSync(bin).isSymbolicLink()).toBe(true);
    const env = baseEnv();
    delete env.PERFPROBE_REGISTER_PATH;
    const register = `--require "${path.join(fs.realpathSync(app), 'node_modules', 'rspack-perfprobe', 'register.js')}"`;
    const show = ['--', 'sh', '-c', 'printf %s "$NODE_OPTIONS"'];
    expect(execFileSync(bin, show, { cwd: app, env, encoding: 'utf8' })).toBe(register);
    expect(execFileSync('npx', ['--no-install', 'perfprobe', ...show], { cwd: app, env, encoding: 'utf8' })).toBe(register);
    expect(execFileSync(bin, ['--help'], { cwd: app, env, encoding: 'utf8' })).toContain('perfprobe report DIR');
  });
});
