import type { Redis } from 'ioredis';

/**
 * Disconnects every subscriber connection of the server `inspect` talks to and keeps them from
 * reconnecting (no connection slot is left: `maxclients` is lowered to what remains), while the
 * command connections stay up: notifications are lost, commands still work. Resolves with a
 * function that gives the slots back.
 */
export async function cutOffSubscribers(inspect: Redis): Promise<() => Promise<void>> {
  const connected = Number(/^connected_clients:(\d+)/m.exec(await inspect.info('clients'))![1]);
  const subscribers = String(await inspect.call('CLIENT', 'LIST', 'TYPE', 'pubsub'))
    .trim()
    .split('\n')
    .filter(Boolean).length;
  const [, previous] = (await inspect.config('GET', 'maxclients')) as [string, string];
  await inspect.config('SET', 'maxclients', String(connected - subscribers));
  await inspect.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
  return async () => {
    await inspect.config('SET', 'maxclients', previous);
  };
}
