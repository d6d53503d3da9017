// Undo on every way out: a loop mount or a scratch directory must not outlive the bench, even
// when it is interrupted. Handlers are synchronous so that they also run from 'exit'.
const steps: Array<() => void> = [];
let installed = false;

function runAll(): void {
  while (steps.length > 0) {
    const step = steps.pop()!;
    try {
      step();
    } catch (err) {
      process.stderr.write(`cleanup: ${(err as Error).message}\n`);
    }
  }
}

/** Registers `step` (run last-in first-out); returns a function that runs it now, once. */
export function onCleanup(step: () => void): () => void {
  if (!installed) {
    installed = true;
    process.on('exit', runAll);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        runAll();
        process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
      });
    }
  }
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    const i = steps.indexOf(once);
    if (i >= 0) steps.splice(i, 1);
    step();
  };
  steps.push(once);
  return once;
}
