/**
 * A pool thread failed to load or died while it held work: the work it held is failed with this
 * error (never reported flushed), and the pool starts a fresh thread for later work.
 */
export class WorkerError extends Error {
  readonly code = 'ERR_FSYNC2_WORKER' as const;
  override readonly name = 'WorkerError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
