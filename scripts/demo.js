#!/usr/bin/env node
'use strict';
// `npm run demo`: generates the `react` workload (N=1000 components, ~2000 modules, or N from the
// first argument), builds it with Rspack under `perfprobe --`, and shows what was written.

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { generate } = require('./workloads');

const ROOT = path.join(__dirname, '..');
const n = Number(process.argv[2] || 1000);
const outDir = path.join(ROOT, '.perfprobe');

console.log(`demo: generating the react workload with ${n} components...`);
const app = generate({ kind: 'react', n });
const before = new Set(fs.existsSync(outDir) ? fs.readdirSync(outDir) : []);
console.log(`demo: building ${app} with Rspack under perfprobe (99 Hz)...`);
const r = spawnSync(path.join(ROOT, 'bin', 'perfprobe'), ['--out', outDir, '--name', 'demo', '--', process.execPath, path.join(__dirname, 'build-app.js'), app], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status || 1);

const dir = fs.readdirSync(outDir).filter((d) => !before.has(d)).map((d) => path.join(outDir, d))[0];
const summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8'));
const row = (cells) => cells.map((c, i) => String(c).padEnd(i === 0 ? 12 : 10)).join(' ');
console.log(`\nfiles in ${dir}:`);
for (const f of fs.readdirSync(dir)) console.log(`  ${f.padEnd(16)} ${(fs.statSync(path.join(dir, f)).size / 1024).toFixed(0).padStart(8)} KiB`);
console.log(`\nbuild ${summary.durationMs} ms, process CPU ${summary.processCpuMs} ms, sampled ${summary.sampledCpuMs} ms (fidelity ${summary.fidelity}), ${summary.samples} samples`);
console.log('\nthreads by CPU:');
console.log(row(['role', 'thread', 'cpu ms', 'samples']));
for (const t of [...summary.threads].sort((a, b) => b.cpuMs - a.cpuMs).slice(0, 8)) console.log(row([t.role, `${t.name}/${t.tid}`, t.cpuMs, t.samples]));
console.log('\ntop functions (self CPU):');
for (const f of summary.topFunctionsSelf.slice(0, 10)) console.log(`  ${String(f.percent).padStart(6)}%  ${f.name.slice(0, 110)}`);
console.log(`\nopen: go tool pprof -http=: ${path.join(dir, 'profile.pb.gz')}`);
console.log(`      ${path.join(dir, 'flamegraph.svg')} in a browser; ${path.join(dir, 'trace.json')} in Perfetto or speedscope`);
