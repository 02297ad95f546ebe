// Reading G's cache standard (docs/cache.md: what g-cache writes into Redis): a member's roles, and what they may
// do in a channel by Discord's permission algorithm. Any ioredis client; `prefix` is 'g:<group>:'.
export const ALL = (1n << 64n) - 1n;  // "every permission": all 64 bits
export const ADMINISTRATOR = 1n << 3n;
export const VIEW_CHANNEL = 1n << 10n;
export const SEND_MESSAGES = 1n << 11n;

const bits = (s) => BigInt(s ?? 0);  // permission sets are decimal strings in Discord's JSON
const parse = (s) => (s == null ? null : JSON.parse(s));

// Discord's permission algorithm (docs "Permission Overwrites"), on plain objects:
//   guild:   { id, owner_id }                       (the @everyone role and overwrite have the guild's id)
//   roles:   { roleId: role, … } or [role, …]       (role.permissions a decimal string)
//   member:  guild member object ({ user: { id }, roles: [roleId, …] })
//   channel: { permission_overwrites: [{ id, type: 0 role | 1 member, allow, deny }] }, or null for the guild level
// Not applied here (a bot checks these itself where they matter): implicit permissions (no VIEW_CHANNEL means
// nothing else either), timeouts (communication_disabled_until), and SEND_MESSAGES_IN_THREADS inside threads.
export function computePermissions(guild, roles, member, channel) {
  const userId = member.user?.id ?? member.user_id;
  if (userId === guild.owner_id) return ALL;
  const byId = Array.isArray(roles) ? Object.fromEntries(roles.map((r) => [r.id, r])) : roles;
  const memberRoles = (member.roles ?? []).filter((id) => id !== guild.id);
  // Base: @everyone's permissions, plus those of every role the member has (unknown role ids add nothing).
  let perms = bits(byId[guild.id]?.permissions);
  for (const id of memberRoles) perms |= bits(byId[id]?.permissions);
  if ((perms & ADMINISTRATOR) === ADMINISTRATOR) return ALL;  // overwrites cannot take anything from an admin
  if (!channel) return perms;
  const overwrites = channel.permission_overwrites ?? [];
  const find = (id, type) => overwrites.find((o) => o.id === id && Number(o.type) === type);
  const apply = (p, deny, allow) => (p & ~deny) | allow;
  // 1. the @everyone overwrite, 2. the member's role overwrites together, 3. the member's own overwrite.
  const everyone = find(guild.id, 0);
  if (everyone) perms = apply(perms, bits(everyone.deny), bits(everyone.allow));
  let allow = 0n, deny = 0n;
  for (const id of memberRoles) {
    const o = find(id, 0);
    if (o) { allow |= bits(o.allow); deny |= bits(o.deny); }
  }
  perms = apply(perms, deny, allow);
  const own = find(userId, 1);
  if (own) perms = apply(perms, bits(own.deny), bits(own.allow));
  return perms & ALL;
}

// The member's roles as role objects, @everyone first, then in the member's order; role ids the cache does not
// know (deleted roles) are left out. null if the member is not in the cache.
export async function memberRoles(redis, prefix, guildId, userId) {
  const key = `${prefix}cache:guild:${guildId}`;
  const member = parse(await redis.hget(`${key}:members`, userId));
  if (!member) return null;
  const ids = [guildId, ...(member.roles ?? []).filter((id) => id !== guildId)];
  return (await redis.hmget(`${key}:roles`, ...ids)).filter((r) => r != null).map(JSON.parse);
}

// The member's permissions in a channel or thread, as BigInt bits; null if the channel, its guild or the member
// is not in the cache.
export async function channelPermissions(redis, prefix, channelId, userId) {
  const guildId = await redis.get(`${prefix}cache:channel:${channelId}`);  // channel or thread → its guild
  if (!guildId) return null;
  const key = `${prefix}cache:guild:${guildId}`;
  let [guild, member, channel, thread] = (await Promise.all([
    redis.get(key), redis.hget(`${key}:members`, userId),
    redis.hget(`${key}:channels`, channelId), redis.hget(`${key}:threads`, channelId),
  ])).map(parse);
  // A thread has no overwrites of its own: it takes its parent channel's permissions (Discord's "Inherited
  // Permissions (Threads)"), so compute them on the parent. Sending in it needs SEND_MESSAGES_IN_THREADS.
  if (!channel && thread?.parent_id) channel = parse(await redis.hget(`${key}:channels`, thread.parent_id));
  if (!guild || !member || !channel) return null;
  const ids = [guildId, ...(member.roles ?? [])];
  const roles = {};
  (await redis.hmget(`${key}:roles`, ...ids)).forEach((r, i) => { if (r != null) roles[ids[i]] = JSON.parse(r); });
  return computePermissions({ ...guild, id: guildId }, roles, member, channel);
}

