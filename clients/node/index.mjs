// g-worker: Node.js workers for G (docs/workers.md): the event stream, commands with their answers, the cache.
export { StreamWorker, shardOf, CommandRejected } from './stream.mjs';
export { memberRoles, channelPermissions, computePermissions, ALL, ADMINISTRATOR, VIEW_CHANNEL, SEND_MESSAGES }
  from './cache.mjs';
