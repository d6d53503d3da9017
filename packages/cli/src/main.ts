#!/usr/bin/env node
// The `fsync2` executable.
import { runCli } from './cli.js';

const stop = { requested: false };
const interrupt = () => {
  // The first signal stops new removals and lets running flushes end; a second one is immediate.
  if (stop.requested) process.exit(130);
  stop.requested = true;
};
process.on('SIGINT', interrupt);
process.on('SIGTERM', interrupt);

const io = { out: (s: string) => console.log(s), err: (s: string) => console.error(s) };
runCli(process.argv.slice(2), io, process.env, stop).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
