/**
 * Runs tasks one at a time, in submission order. One per card: a card does one thing at a
 * time, and an operation must never interleave its APDUs with another's.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private count = 0;

  /** Tasks submitted and not yet settled (the running one included). */
  get pending(): number {
    return this.count;
  }

  run<T>(task: () => Promise<T>): Promise<T> {
    this.count++;
    const result = this.tail.then(task, task).finally(() => {
      this.count--;
    });
    // The queue goes on whether the task failed or not; the caller sees the failure.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
