// The command line: parsing (commander), configuration, exit codes. 0: every file durable;
// 1: some were not (each named on stderr); 2: a usage or configuration error; 130: interrupted.
import { Command, CommanderError, Option } from 'commander';
import { STRATEGIES, type Mode, type Strategy, type SyncerOptions } from '@fsync2/core';
import { loadOptions, syncerFrom, UsageError } from './config.js';
import { copyCommand, type Stop } from './copy-command.js';
import { syncCommand, type Io } from './sync-command.js';

interface Common {
  data?: boolean;
  full?: boolean;
  strategy?: Strategy;
  json?: boolean;
  follow?: boolean;
  config?: string;
}

function modeOf(o: Common, fallback: Mode): Mode {
  if (o.data && o.full) throw new UsageError('--data and --full exclude each other');
  return o.data ? 'data' : o.full ? 'full' : fallback;
}

function common(cmd: Command): Command {
  return cmd
    .option('--data', 'data durability: fdatasync (data and the metadata needed to read it)')
    .option('--full', 'full durability: fsync (data and all metadata); the default')
    .addOption(new Option('--strategy <name>', 'how each filesystem is flushed').choices([...STRATEGIES]))
    .option('--json', 'print one JSON report, no progress bar')
    .option('--follow', 'follow symlinks (they are not followed by default)')
    .option('--config <file>', 'syncer options as JSON (pool, groupCommit, planner, …); FSYNC2_* variables override it');
}

/** Runs the command line; resolves with the exit code. */
export async function runCli(argv: readonly string[], io: Io, env: NodeJS.ProcessEnv = process.env, stop: Stop = { requested: false }): Promise<number> {
  let code = 0;
  const program = new Command()
    .name('fsync2')
    .description('Make many files durable with one batched, parallel flush; copy trees durably.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .showHelpAfterError();

  const withSyncer = async (o: Common, run: (syncer: ReturnType<typeof syncerFrom>, mode: Mode) => Promise<number>) => {
    const flags: SyncerOptions = {};
    const options = loadOptions(o.config, env, flags);
    const syncer = syncerFrom(options, o.config);
    try {
      return await run(syncer, modeOf(o, syncer.options.mode));
    } finally {
      await syncer.close();
    }
  };

  common(program.command('sync').argument('<paths...>', 'files and directories').description(
    'make every file and every directory under PATHs durable in one batched run',
  )).action(async (paths: string[], o: Common) => {
    code = await withSyncer(o, (syncer, mode) =>
      syncCommand(syncer, paths, { mode, json: !!o.json, follow: !!o.follow, ...(o.strategy ? { strategy: o.strategy } : {}) }, io));
  });

  common(program.command('copy').argument('<paths...>', 'SRC… DEST').description(
    'copy files and trees to DEST, make the copies and their directories durable, verify them, and with --remove-source remove each source once its copy is durable',
  ))
    .option('--remove-source', 'remove each source as soon as its copy is durable and verified')
    .option('--verify', 'verify copies by content hash (sha256), not only by size')
    .action(async (paths: string[], o: Common & { removeSource?: boolean; verify?: boolean }) => {
      if (paths.length < 2) throw new UsageError('copy needs at least one SRC and a DEST');
      const dest = paths[paths.length - 1]!;
      code = await withSyncer(o, (syncer, mode) =>
        copyCommand(syncer, paths.slice(0, -1), dest, {
          mode, json: !!o.json, follow: !!o.follow, removeSource: !!o.removeSource, verify: !!o.verify,
          ...(o.strategy ? { strategy: o.strategy } : {}),
        }, io, stop));
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof UsageError) {
      io.err(`fsync2: ${err.message}`);
      return 2;
    }
    throw err;
  }
}
