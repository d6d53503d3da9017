#!/usr/bin/env node
// Runs every compiled test file in its own process (pools, children and mounts stay isolated),
// the behavioural suites a second time on the pure-TS path (FSYNC2_NATIVE=off), and prints the
// plain summary line CI looks for: "N passed, N failed". uvu prints no failed count of its own.
// Lines a test prints as "SKIP name: reason" or "INFO text" are repeated at the end.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('./dist/', import.meta.url));
// Suites that must hold on both backends: the addon and fs.*Sync inside the workers.
const BOTH = new Set(['api.test.js', 'bad-input.test.js', 'strategies.test.js']);
const PER_FILE_TIMEOUT_MS = 15 * 60_000;

const only = process.argv.slice(2);
const files = fs
  .readdirSync(dist)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

const runs = [];
for (const file of files) {
  runs.push({ file, label: file, env: {} });
  if (BOTH.has(file)) runs.push({ file, label: `${file} [pure-TS path]`, env: { FSYNC2_NATIVE: 'off' } });
}

const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
let passed = 0;
let failed = 0;
let skipped = 0;
const skips = [];
const infos = [];
const failures = [];

for (const run of runs) {
  const started = Date.now();
  const { code, out } = await exec(path.join(dist, run.file), run.env);
  const text = strip(out);
  const num = (label) => Number(text.match(new RegExp(`${label}:\\s+(\\d+)`))?.[1] ?? NaN);
  const total = num('Total');
  const ok = num('Passed');
  const skip = num('Skipped');
  for (const raw of text.split('\n')) {
    // uvu prints each passed test's bullet without a newline: a line a later test prints follows them.
    const line = raw.replace(/^[\s\u2022\u2718]+/, '');
    if (line.startsWith('SKIP ')) skips.push(`${run.label}: ${line.slice(5)}`);
    if (line.startsWith('INFO ')) infos.push(`${run.label}: ${line.slice(5)}`);
  }
  let bad;
  if (Number.isNaN(total) || Number.isNaN(ok)) {
    bad = 1; // crashed or timed out before uvu printed its totals
  } else {
    bad = total - ok - (Number.isNaN(skip) ? 0 : skip);
    if (code !== 0 && bad === 0) bad = 1; // exited non-zero after all passed: an unhandled error
  }
  passed += Number.isNaN(ok) ? 0 : ok;
  skipped += Number.isNaN(skip) ? 0 : skip;
  failed += bad;
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`${bad ? 'FAIL' : 'ok  '} ${run.label} (${Number.isNaN(ok) ? 0 : ok} passed, ${bad} failed, ${secs}s)`);
  if (bad) {
    failures.push(run.label);
    process.stdout.write(out.split('\n').map((l) => `    ${l}`).join('\n') + '\n');
  }
}

for (const s of infos) console.log(`info: ${s}`);
for (const s of skips) console.log(`skipped: ${s}`);
if (failures.length) console.log(`failed files: ${failures.join(', ')}`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed || runs.length === 0 ? 1 : 0);

function exec(file, env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], {
      env: { ...process.env, ...env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      out += `\n[runner] killed after ${PER_FILE_TIMEOUT_MS / 1000}s\n`;
      child.kill('SIGKILL');
    }, PER_FILE_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}
