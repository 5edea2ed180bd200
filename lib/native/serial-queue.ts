/**
 * Runs async tasks one after another. A native object accepts one call at a time (it rejects
 * overlapping calls with E_BUSY); the TypeScript objects queue through this so users never see that.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    // A failed task must not block the ones queued after it.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
