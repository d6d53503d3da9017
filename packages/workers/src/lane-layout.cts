// The shared memory of a flush lane: one request at a time, written by the pool, answered by the
// lane's thread. Both sides build their views from this one layout.

/**
 * Most entries of one lane request; bigger batches go to the piscina pool. As many as a default
 * plan holds (groupCommit.maxBatch): a plan's io_uring task then skips piscina's round trip too,
 * 0.4-5 ms before a 1,000-file W1 plan's flushes could start (139 KiB of shared memory).
 */
export const LANE_CAPACITY = 8192;

/**
 * ms a primed thread polls for the request it was told of before it sleeps again: the guard's
 * cachestat of a 1,000-file batch took ~1.3 ms here, and a longer measurement (10,000 files,
 * 6-10 ms) costs the thread one wake-up more, not a CPU held all that time.
 */
export const PRIME_POLL_MS = 2;

/** Int32 slots of the control block. */
export const CTL = {
  /** Sequence number of the latest request (the pool sets it, then rings WAKE). */
  REQUEST: 0,
  /** Sequence number of the latest answered request (the thread sets it, then notifies). */
  DONE: 1,
  /** Entries in the current request. */
  COUNT: 2,
  /** 1: the thread leaves its loop. */
  STOP: 3,
  /** 1 once the thread has loaded and waits for requests. */
  READY: 4,
  /** The answer's backend: 1 native, 0 js. */
  NATIVE: 5,
  /** The request's engine: 0 sync, 1 io_uring (with DEPTH and MAX_WORKERS). */
  ENGINE: 6,
  DEPTH: 7,
  MAX_WORKERS: 8,
  /** The engine that ran (0 sync, 1 io_uring): a ring that failed falls back to sync. */
  ENGINE_USED: 9,
  /** 1: a request is coming soon (FlushLane.prime); 2: the thread took it and polls; 0: neither. */
  PRIMED: 10,
  /**
   * Rung (incremented, then notified) for every request, prime and stop: the word the thread
   * sleeps on. A prime changes no REQUEST, and a notify alone is lost when it comes just before
   * the thread begins to wait; a changed word is not.
   */
  WAKE: 11,
} as const;
// 12 Int32 slots: 48 bytes, so the 8-byte arrays after them stay aligned.
const CTL_SLOTS = 12;

export interface LaneViews {
  readonly ctl: Int32Array;
  readonly fds: Int32Array;
  readonly ops: Uint8Array;
  readonly errnos: Int32Array;
  readonly nanos: Float64Array;
  /** [startedAt, endedAt] of the answer, wall-clock ms like FlushResult's. */
  readonly times: Float64Array;
}

const bytes = {
  ctl: CTL_SLOTS * 4,
  times: 2 * 8,
  nanos: LANE_CAPACITY * 8,
  fds: LANE_CAPACITY * 4,
  errnos: LANE_CAPACITY * 4,
  ops: LANE_CAPACITY,
};

export function laneBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(bytes.ctl + bytes.times + bytes.nanos + bytes.fds + bytes.errnos + bytes.ops);
}

/** Views in alignment order: 8-byte arrays first. */
export function laneViews(sab: SharedArrayBuffer): LaneViews {
  let at = 0;
  const take = <T,>(make: (offset: number) => T, size: number): T => {
    const view = make(at);
    at += size;
    return view;
  };
  const ctl = take((o) => new Int32Array(sab, o, CTL_SLOTS), bytes.ctl);
  const times = take((o) => new Float64Array(sab, o, 2), bytes.times);
  const nanos = take((o) => new Float64Array(sab, o, LANE_CAPACITY), bytes.nanos);
  const fds = take((o) => new Int32Array(sab, o, LANE_CAPACITY), bytes.fds);
  const errnos = take((o) => new Int32Array(sab, o, LANE_CAPACITY), bytes.errnos);
  const ops = take((o) => new Uint8Array(sab, o, LANE_CAPACITY), bytes.ops);
  return { ctl, fds, ops, errnos, nanos, times };
}
