/**
 * A small typed event emitter: listeners per event name, called synchronously in the order they were
 * added. `on` returns the function that removes the listener.
 */
export type Listener<T> = (event: T) => void;

export class Emitter<Events extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  on<K extends keyof Events>(name: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(name);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(name, listener);
  }

  off<K extends keyof Events>(name: K, listener: Listener<Events[K]>): void {
    this.listeners.get(name)?.delete(listener as Listener<never>);
  }

  /** Calls every listener of `name`; a listener that throws stops the others and the error propagates. */
  emit<K extends keyof Events>(name: K, event: Events[K]): void {
    const set = this.listeners.get(name);
    if (set === undefined) return;
    for (const listener of set) (listener as Listener<Events[K]>)(event);
  }

  /** Calls every listener of `name`; one that throws is reported to `onError` and the others still run. */
  emitSafely<K extends keyof Events>(name: K, event: Events[K], onError: (error: unknown) => void): void {
    const set = this.listeners.get(name);
    if (set === undefined) return;
    for (const listener of set) {
      try {
        (listener as Listener<Events[K]>)(event);
      } catch (error) {
        onError(error);
      }
    }
  }

  removeAll(): void {
    this.listeners.clear();
  }
}
