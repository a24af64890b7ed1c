#!/usr/bin/env node
'use strict';
// Runs one command and prints one JSON line about it:
//   node bench/measure.js <cmd> [args...]
// { wallMs, endUnixMs, cpuUserMs, cpuSysMs, machineBusyMs, peakRssKb, code, signal, stdoutTail, stderrTail }
//
// Why a process of its own: Node gives no rusage for children, but the kernel adds every waited-for
// child's CPU (and, transitively, its waited-for descendants') to this process's cutime/cstime in
// /proc/self/stat. Running exactly one command here makes those counters that command's CPU.
// Extra environment for the command comes in BENCH_MEASURE_ENV (JSON), not in our own environment, so
// that a NODE_OPTIONS preload meant for the build is not loaded into this process too.

const { spawn, spawnSync } = require('child_process');
const fs = require('fs');

const POLL_MS = 50;
const TAIL_CHARS = 2000;

function clockTicks() {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  return Number(r.stdout) > 0 ? Number(r.stdout) : 100;
}

/** Children's CPU (cutime, cstime) in ms from /proc/self/stat; fields counted after the `(comm)`. */
function childrenCpuMs(ticks) {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); cutime and cstime are fields 16 and 17.
  return { user: (Number(fields[13]) * 1000) / ticks, sys: (Number(fields[14]) * 1000) / ticks };
}

/** CPU time all CPUs of the machine spent busy (not idle/iowait), in ms: minus the command's own CPU,
 *  it shows how much else ran during a run, i.e. whether the run was disturbed. */
function machineBusyMs(ticks) {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0);
  return (busy * 1000) / ticks;
}

/** pid and all its live descendants, via every thread's `children` list. */
function descendants(pid, out = []) {
  out.push(pid);
  let tasks = [];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    let kids = '';
    try {
      kids = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
    } catch {}
    for (const k of kids.split(' ').filter(Boolean)) descendants(Number(k), out);
  }
  return out;
}

function vmHwmKb(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (!cmd) {
    console.error('usage: node bench/measure.js <cmd> [args...]');
    process.exit(2);
  }
  const ticks = clockTicks();
  const env = { ...process.env, ...JSON.parse(process.env.BENCH_MEASURE_ENV || '{}') };
  delete env.BENCH_MEASURE_ENV;
  for (const [k, v] of Object.entries(env)) if (v === null) delete env[k];

  let stdout = '';
  let stderr = '';
  let peakRssKb = 0;
  const busy0 = machineBusyMs(ticks);
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-TAIL_CHARS * 4)));
  // VmHWM is a high-water mark, so polling misses at most the growth of the last interval.
  const poll = () => {
    for (const pid of descendants(child.pid)) peakRssKb = Math.max(peakRssKb, vmHwmKb(pid));
  };
  const timer = setInterval(poll, POLL_MS);
  let exit;
  child.on('exit', (code, signal) => {
    exit = { code, signal, wallMs: Number(process.hrtime.bigint() - t0) / 1e6, endUnixMs: performance.timeOrigin + performance.now(), machineBusyMs: machineBusyMs(ticks) - busy0 };
    clearInterval(timer);
  });
  child.on('close', () => {
    const cpu = childrenCpuMs(ticks);
    const result = {
      wallMs: exit.wallMs,
      endUnixMs: exit.endUnixMs,
      cpuUserMs: cpu.user,
      cpuSysMs: cpu.sys,
      machineBusyMs: exit.machineBusyMs,
      peakRssKb,
      code: exit.code,
      signal: exit.signal,
      stdoutTail: stdout.slice(-TAIL_CHARS),
      stderrTail: stderr.slice(-TAIL_CHARS),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  });
  child.on('error', (e) => {
    clearInterval(timer);
    console.error(`cannot run ${cmd}: ${e.message}`);
    process.exit(1);
  });
}

main();
