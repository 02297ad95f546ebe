"""Reading G's cache standard (docs/cache.md: what g-cache writes into Redis): a member's roles, and what they may
do in a channel by Discord's permission algorithm. Any redis-py client; `prefix` is "g:<group>:"."""
import json

ALL = (1 << 64) - 1  # "every permission": all 64 bits
ADMINISTRATOR = 1 << 3
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11


def _bits(s):
    return int(s or 0)  # permission sets are decimal strings in Discord's JSON


def _str(v):
    return v.decode() if isinstance(v, bytes) else v  # works with or without decode_responses=True


def _parse(s):
    return None if s is None else json.loads(s)


def compute_permissions(guild, roles, member, channel):
    """Discord's permission algorithm (docs "Permission Overwrites"), on plain dicts:

    guild:   {"id", "owner_id"}                      (the @everyone role and overwrite have the guild's id)
    roles:   {role_id: role} or [role, ...]          (role["permissions"] a decimal string)
    member:  guild member object ({"user": {"id"}, "roles": [role_id, ...]})
    channel: {"permission_overwrites": [{"id", "type": 0 role | 1 member, "allow", "deny"}]}, or None for the
             guild level

    Not applied here (a bot checks these itself where they matter): implicit permissions (no VIEW_CHANNEL means
    nothing else either), timeouts (communication_disabled_until), and SEND_MESSAGES_IN_THREADS inside threads.
    """
    user_id = (member.get("user") or {}).get("id", member.get("user_id"))
    if user_id == guild["owner_id"]:
        return ALL
    by_id = {r["id"]: r for r in roles} if isinstance(roles, list) else roles
    role_ids = [i for i in member.get("roles") or [] if i != guild["id"]]
    # Base: @everyone's permissions, plus those of every role the member has (unknown role ids add nothing).
    perms = _bits((by_id.get(guild["id"]) or {}).get("permissions"))
    for i in role_ids:
        perms |= _bits((by_id.get(i) or {}).get("permissions"))
    if perms & ADMINISTRATOR == ADMINISTRATOR:
        return ALL  # overwrites cannot take anything from an admin
    if channel is None:
        return perms
    overwrites = {(o["id"], int(o["type"])): o for o in channel.get("permission_overwrites") or []}

    def apply(p, deny, allow):
        return (p & ~deny) | allow

    # 1. the @everyone overwrite, 2. the member's role overwrites together, 3. the member's own overwrite.
    everyone = overwrites.get((guild["id"], 0))
    if everyone:
        perms = apply(perms, _bits(everyone["deny"]), _bits(everyone["allow"]))
    allow = deny = 0
    for i in role_ids:
        o = overwrites.get((i, 0))
        if o:
            allow |= _bits(o["allow"])
            deny |= _bits(o["deny"])
    perms = apply(perms, deny, allow)
    own = overwrites.get((user_id, 1))
    if own:
        perms = apply(perms, _bits(own["deny"]), _bits(own["allow"]))
    return perms & ALL


def member_roles(r, prefix, guild_id, user_id):
    """The member's roles as role dicts, @everyone first, then in the member's order; role ids the cache does not
    know (deleted roles) are left out. None if the member is not in the cache."""
    key = f"{prefix}cache:guild:{guild_id}"
    member = _parse(r.hget(key + ":members", user_id))
    if member is None:
        return None
    ids = [guild_id] + [i for i in member.get("roles") or [] if i != guild_id]
    return [json.loads(x) for x in r.hmget(key + ":roles", ids) if x is not None]


def channel_permissions(r, prefix, channel_id, user_id):
    """The member's permissions in a channel or thread, as int bits; None if the channel, its guild or the member
    is not in the cache."""
    guild_id = _str(r.get(f"{prefix}cache:channel:{channel_id}"))  # channel or thread -> its guild
    if not guild_id:
        return None
    key = f"{prefix}cache:guild:{guild_id}"
    guild = _parse(r.get(key))
    member = _parse(r.hget(key + ":members", user_id))
    channel = _parse(r.hget(key + ":channels", channel_id))
    if channel is None:
        # A thread has no overwrites of its own: it takes its parent channel's permissions (Discord's "Inherited
        # Permissions (Threads)"), so compute them on the parent. Sending in it needs SEND_MESSAGES_IN_THREADS.
        thread = _parse(r.hget(key + ":threads", channel_id))
        if thread and thread.get("parent_id"):
            channel = _parse(r.hget(key + ":channels", thread["parent_id"]))
    if guild is None or member is None or channel is None:
        return None
    ids = [guild_id] + list(member.get("roles") or [])
    roles = {i: json.loads(x) for i, x in zip(ids, r.hmget(key + ":roles", ids)) if x is not None}
    return compute_permissions(dict(guild, id=guild_id), roles, member, channel)
