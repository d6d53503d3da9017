// pnpm bench: the scoreboard. Every contender flushes the same fresh dirty data, interleaved
// round by round, next to the hardware limit measured in the same run. Prints the table, writes
// latest.json (machine and raw samples) and latest.svg.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOptions, USAGE } from './args.js';
import { Child } from './children.js';
import { onCleanup } from './cleanup.js';
import { buildLimit, cContenders } from './contenders/c-limit.js';
import { argMax, coreutilsContenders, coreutilsVersion } from './contenders/coreutils.js';
import { fsync2Contenders } from './contenders/fsync2.js';
import { idleContender, nodeContenders } from './contenders/node.js';
import { mountLoopFs } from './loopfs.js';
import { describeMachine, machineLine } from './machine.js';
import { caseResult, serialize, type CaseResult, type ResultDoc } from './results.js';
import { runCase, warmUp } from './runner.js';
import { Scratch } from './scratch.js';
import { renderSvg } from './svg.js';
import { renderTable } from './table.js';
import { w1Dropped } from './workloads/w1-many-small.js';
import { WORKLOADS, type Env } from './workloads/index.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (typeof opts === 'string') {
    const help = opts === USAGE;
    (help ? process.stdout : process.stderr).write(opts.endsWith('\n') ? opts : `${opts}\n`);
    return help ? 0 : 2;
  }
  if (opts.render) return render(opts.render, opts.out);
  const started = Date.now();
  const outDir = resolve(opts.out ?? join(REPO, 'bench', 'results'));
  const scratchBase = resolve(opts.dir ?? join(REPO, 'bench', 'results', 'tmp'));
  mkdirSync(scratchBase, { recursive: true });
  const scratchRoot = mkdtempSync(join(scratchBase, 'run-'));
  if (!opts.keep) onCleanup(() => rmSync(scratchRoot, { recursive: true, force: true }));
  const scratch = new Scratch(scratchRoot);

  const machine = describeMachine(scratchRoot, REPO);
  const where = machineLine(machine);
  log(`${opts.preset.name}, ${opts.rounds} rounds, scratch ${scratchRoot} (${machine.scratch.fsType})`);
  if (machine.scratch.volatile) {
    log(`WARNING: ${machine.scratch.fsType} keeps nothing across a reboot: every flush here is a no-op. Use --dir on a real disk.`);
  }

  const limit = buildLimit(scratchRoot);
  if (typeof limit === 'string') log(`C reference skipped: ${limit}`);
  const coreutils = coreutilsVersion();

  const threads = opts.fsync2Threads ? [String(opts.fsync2Threads)] : [];
  const children = await Promise.all([
    Child.start('node-4', 'node', { unset: ['UV_THREADPOOL_SIZE'] }),
    Child.start('node-64', 'node', { set: { UV_THREADPOOL_SIZE: '64' } }),
    Child.start('fsync2-addon', 'fsync2', { unset: ['UV_THREADPOOL_SIZE', 'FSYNC2_NATIVE'], args: threads }),
    Child.start('fsync2-ts', 'fsync2', { set: { FSYNC2_NATIVE: 'off' }, unset: ['UV_THREADPOOL_SIZE'], args: threads }),
  ]);
  const [node4, node64, addon, pureTs] = children as [Child, Child, Child, Child];
  const closeChildren = onCleanup(() => {
    for (const c of children) void c.close();
  });
  if (addon.hello?.fsync2?.backend !== 'native') log(`fsync2 addon not loaded: ${addon.hello?.fsync2?.nativeReason ?? '?'}`);

  const contenders = [
    idleContender(node4),
    ...nodeContenders(node4, node64),
    ...coreutilsContenders({ limit: typeof limit === 'string' ? null : limit, argMax: argMax() }, coreutils),
    ...cContenders(limit),
    ...fsync2Contenders(addon, pureTs),
  ];

  const selected = WORKLOADS.filter((w) => !opts.only || opts.only.has(w.id));
  const skipped: Array<{ workload: string; reason: string }> = [];
  let loop: Env['loop'] = 'not selected';
  if (selected.some((w) => w.id === 'W7')) {
    loop = mountLoopFs(scratchRoot, opts.preset.w7.imageMiB);
    if (typeof loop !== 'string') log(`W7: ${loop.device} mounted on ${loop.mount}`);
  }
  const env: Env = { preset: opts.preset, scratch, loop, fdLimit: machine.fdLimit };

  const cases: CaseResult[] = [];
  try {
    log('warming up every contender');
    await warmUp(env, contenders);
    for (const workload of selected) {
      const specs = workload.cases(env);
      if (typeof specs === 'string') {
        skipped.push({ workload: workload.id, reason: specs });
        log(`${workload.id} skipped: ${specs}`);
        continue;
      }
      if (workload.id === 'W1') {
        for (const n of w1Dropped(opts.preset.w1, env.fdLimit)) {
          skipped.push({ workload: `W1-${n}`, reason: `needs ${n + 1024} open files, the limit here is ${env.fdLimit}` });
        }
      }
      for (const spec of specs) {
        const run = await runCase(env, workload, spec, contenders, opts.rounds, log);
        cases.push(caseResult(run));
        log(`${spec.id} done in ${run.seconds.toFixed(1)} s`);
      }
    }
  } finally {
    if (typeof loop !== 'string') loop.release();
    closeChildren();
    await Promise.all(children.map((c) => c.close()));
  }

  const doc: ResultDoc = {
    schema: 'fsync2-bench/1',
    date: new Date(started).toISOString(),
    preset: opts.preset.name,
    rounds: opts.rounds,
    argv: process.argv.slice(2),
    seconds: Math.round((Date.now() - started) / 100) / 10,
    machine,
    contenders: {
      cc: typeof limit === 'string' ? null : limit.cc,
      cReference: typeof limit === 'string' ? `skipped: ${limit}` : 'bench/c/limit.c, cc -O2 -pthread',
      coreutils: coreutils || null,
      node4: node4.hello,
      node64: node64.hello,
      fsync2Addon: addon.hello,
      fsync2PureTs: pureTs.hello,
    },
    skipped,
    cases,
  };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'latest.json'), serialize(doc));
  writeFileSync(join(outDir, 'latest.svg'), renderSvg(doc, where));
  process.stdout.write(renderTable(doc, where));
  log(`wrote ${join(outDir, 'latest.json')} and latest.svg in ${doc.seconds} s`);

  const failed = cases.flatMap((c) => c.contenders.filter((x) => x.error).map((x) => `${c.id} ${x.label}: ${x.error}`));
  for (const f of failed) log(`FAILED ${f}`);
  return failed.length > 0 ? 1 : 0;
}

/** Re-renders a saved run: the table to stdout, the chart next to it (or into `out`). */
function render(file: string, out: string | null): number {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as ResultDoc;
  const where = machineLine(doc.machine);
  const svg = join(resolve(out ?? dirname(file)), 'latest.svg');
  mkdirSync(dirname(svg), { recursive: true });
  writeFileSync(svg, renderSvg(doc, where));
  process.stdout.write(renderTable(doc, where));
  log(`wrote ${svg}`);
  return 0;
}

process.exitCode = await main();
