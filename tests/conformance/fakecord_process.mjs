// g-fakecord for a conformance test: the test kit's launcher (clients/testkit/node) with this build's binary; a
// --token in `args` replaces the kit's default.
import { startFakecord as startWithKit } from '../../clients/testkit/node/index.mjs';

export const startFakecord = (binary, args) => startWithKit({ binary, args });

// Resolves when `predicate` returns a truthy value for an event, or rejects after `ms`.
export function waitFor(emitter, event, predicate = () => true, ms = 60000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, handler);
      reject(new Error(`timed out waiting for ${event}`));
    }, ms);
    function handler(...args) {
      if (!predicate(...args)) return;
      clearTimeout(timer);
      emitter.off(event, handler);
      resolve(args);
    }
    emitter.on(event, handler);
  });
}

export const shardOf = (guildId, count) => Number((BigInt(guildId) >> 22n) % BigInt(count));
