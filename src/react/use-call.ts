/**
 * `useCall`: one server command as component state — its latest result, error and whether a call
 * is pending — with cancellation. A call made before the provider created its client waits for it.
 * After the component unmounts, results are ignored (the call itself goes on: a message a user
 * sent is not dropped because its form closed).
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { CallRequestOptions } from '../client/types.js';
import * as ErrorCode from '../protocol/error-code-values.js';
import { SwitchboardError } from '../protocol/errors.js';
import { check } from '../shared/options.js';
import { useHolder } from './context.js';

/** What {@link useCall} returns. */
export interface CallState<Input = unknown, Output = unknown> {
  /**
   * Calls the command; resolves its result, rejects with its error. Also fills `data` / `error` /
   * `pending`, for the latest call only. The promise never counts as unhandled: ignoring it
   * (`onClick={() => call(x)}`) is fine, the error is in `error`.
   */
  call(input?: Input, options?: CallRequestOptions): Promise<Output>;
  /** The latest successful call's result (kept while the next one is pending). */
  readonly data: Output | undefined;
  /** The latest call's error (`undefined` once a call succeeds, or while one is pending). */
  readonly error: SwitchboardError | Error | undefined;
  /** A call is in flight. */
  readonly pending: boolean;
  /**
   * Cancels the pending call: a queued one is never sent, one in flight stops being waited for (the
   * server may still run it). Its promise rejects with `ABORTED`; `error` stays clear.
   */
  cancel(): void;
  /** Clears `data` and `error` (and cancels a pending call). */
  reset(): void;
}

interface CallSnapshot {
  data: unknown;
  error: SwitchboardError | Error | undefined;
  pending: boolean;
}

const IDLE_CALL: CallSnapshot = { data: undefined, error: undefined, pending: false };

/**
 * A server command with its state.
 *
 * @example
 * const { call, data, error, pending } = useCall<{ a: number; b: number }, number>('add');
 * <button disabled={pending} onClick={() => call({ a: 1, b: 2 })}>Add</button>
 */
export function useCall<Input = unknown, Output = unknown>(name: string): CallState<Input, Output> {
  check('useCall name', name, typeof name === 'string' && name.length > 0, 'a non-empty string');
  const holder = useHolder('useCall');
  const [state, setState] = useState<CallSnapshot>(IDLE_CALL);
  /** Whether the component is mounted, the latest call's number, and how to abort it. */
  const live = useRef({ mounted: false, seq: 0, abort: undefined as AbortController | undefined });

  useEffect(() => {
    const l = live.current;
    l.mounted = true;
    return () => {
      l.mounted = false;
    };
  }, []);

  const call = useCallback(
    (input?: Input, options?: CallRequestOptions): Promise<Output> => {
      const l = live.current;
      const seq = ++l.seq;
      const abort = new AbortController();
      l.abort = abort;
      // The caller's own signal cancels as well (its listener goes when the call settles).
      const outer = options?.signal;
      const forward = () => abort.abort();
      if (outer?.aborted) abort.abort();
      else outer?.addEventListener('abort', forward, { once: true });
      const latest = () => l.mounted && l.seq === seq;
      if (l.mounted) setState((s) => ({ data: s.data, error: undefined, pending: true }));
      const p = holder
        .whenReady(abort.signal)
        .then((client) => client.call(name as never, input as never, { ...options, signal: abort.signal }) as Promise<Output>);
      p.then(
        (data) => {
          outer?.removeEventListener('abort', forward);
          if (latest()) setState({ data, error: undefined, pending: false });
        },
        (err: unknown) => {
          outer?.removeEventListener('abort', forward);
          if (!latest()) return;
          const cancelled = err instanceof SwitchboardError && err.code === ErrorCode.ABORTED && abort.signal.aborted;
          setState((s) => ({ data: s.data, error: cancelled ? undefined : (err as Error), pending: false }));
        },
      );
      return p;
    },
    [holder, name],
  );
  const cancel = useCallback(() => live.current.abort?.abort(), []);
  const reset = useCallback(() => {
    const l = live.current;
    l.abort?.abort();
    l.seq++;
    setState(IDLE_CALL);
  }, []);
  return useMemo(
    () => ({ call, cancel, reset, data: state.data as Output | undefined, error: state.error, pending: state.pending }),
    [call, cancel, reset, state],
  );
}
