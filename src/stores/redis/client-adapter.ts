/**
 * What the two client adapters (`ioredis-commands.ts`, `node-redis-commands.ts`) do the same way,
 * written once: a script goes by its SHA (EVALSHA) and, when the server has not cached it
 * (NOSCRIPT), once more by its text (EVAL), alone or in the script + WAIT pipeline; and a lent
 * client that is still connecting is waited for ({@link whenReady}).
 */
import { isError } from '../../is-error';
import type { ReplicaWait, ScriptCall } from './redis-commands';
import type { LuaScript } from './redis-scripts';

/** The script calls of the `RedisCommands` port; each adapter says how its client sends them. */
export abstract class ClientAdapter {
  evalScript(
    script: LuaScript,
    keys: readonly string[],
    args: readonly string[],
  ): Promise<unknown> {
    return shaThenEval((byEval) => this.runScript(byEval, { script, keys, args }));
  }

  evalScriptThenWait(
    call: ScriptCall,
    wait: ReplicaWait,
    then: ScriptCall,
  ): Promise<[unknown, number, unknown]> {
    return shaThenEval(async (byEval) => {
      const [reply, acks, thenReply] = await this.runAroundWait(byEval, call, wait, then);
      return [reply, Number(acks), thenReply];
    });
  }

  /** Sends the script alone: EVALSHA, or EVAL when `byEval`. */
  protected abstract runScript(byEval: boolean, call: ScriptCall): Promise<unknown>;

  /**
   * Sends `first`, `WAIT replicas timeoutMs` and `then` in one pipeline on one connection (never
   * MULTI, where WAIT does not block and counts stale acknowledgements); on a Cluster, to the
   * master of `first`'s keys. Resolves with the three replies, or rejects with the first error.
   */
  protected abstract runAroundWait(
    byEval: boolean,
    first: ScriptCall,
    wait: ReplicaWait,
    then: ScriptCall,
  ): Promise<[unknown, unknown, unknown]>;
}

/** `run` by SHA; if the server does not know the script (NOSCRIPT), once more by its text. */
async function shaThenEval<T>(run: (byEval: boolean) => Promise<T>): Promise<T> {
  try {
    return await run(false);
  } catch (error) {
    if (!isNoScriptError(error)) throw error;
    return run(true);
  }
}

/** True for a server error reply saying the script is not cached (EVALSHA must become EVAL). */
function isNoScriptError(error: unknown): boolean {
  return isError(error) && error.message.startsWith('NOSCRIPT');
}

/** A client's 'ready' / 'end' events, as both client libraries emit them. */
interface ReadyEvents {
  once(event: 'ready' | 'end', listener: () => void): unknown;
  off(event: 'ready' | 'end', listener: () => void): unknown;
}

/** Settles when `client` is ready, or rejects if its connection ends first. */
export function whenReady(client: ReadyEvents): Promise<void> {
  return new Promise((resolve, reject) => {
    const onReady = (): void => {
      client.off('end', onEnd);
      resolve();
    };
    const onEnd = (): void => {
      client.off('ready', onReady);
      reject(new Error('Redis connection ended before it was ready'));
    };
    client.once('ready', onReady);
    client.once('end', onEnd);
  });
}
