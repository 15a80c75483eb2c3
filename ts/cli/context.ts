/** What every command gets: where to print, whether stderr is a terminal, and Ctrl-C. */
export interface CommandContext {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** stderr is a terminal: draw progress bars. */
  tty: boolean;
  /** Aborted on the first Ctrl-C (SIGINT) or SIGTERM. */
  signal: AbortSignal;
}

/** Exit codes. */
export const EXIT_OK = 0;
export const EXIT_SOME_FAILED = 1;
export const EXIT_USAGE = 2;
/** Stopped by Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT_INTERRUPTED = 130;

/**
 * Run on a second Ctrl-C, before the process quits at once (e.g. stop worker threads so that
 * they start no new file); each gets a moment, not more. Returns the function that removes it.
 */
export const forceQuitHooks = new Set<() => unknown>();
