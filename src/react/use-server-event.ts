/**
 * `useServerEvent`: the targeted events the server sends to this connection or its member
 * (`server.send`; docs/client.md, "Events from the server"), while the component is mounted.
 * Client-side only: nothing goes on the wire.
 */
import { useEffect, useRef } from 'react';
import { check } from '../shared/options.js';
import { useProviderClient } from './context.js';

/**
 * Calls `handler` with the data of each server event named `name`. The latest `handler` is used,
 * so an inline function does not re-register. Events arrive at most once and only while connected.
 *
 * @example
 * useServerEvent<{ text: string }>('notification', (data) => toast(data.text));
 */
export function useServerEvent<T = unknown>(name: string, handler: (data: T, name: string) => void): void {
  check('useServerEvent name', name, typeof name === 'string' && name.length > 0, 'a non-empty string');
  const { client } = useProviderClient('useServerEvent');
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => {
    if (!client) return;
    return client.on('event', (e) => {
      if (e.name === name) latest.current(e.data as T, e.name);
    });
  }, [client, name]);
}
