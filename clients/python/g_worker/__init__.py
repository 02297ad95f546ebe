"""g_worker: Python workers for G (docs/workers.md): the event stream, commands with their answers, the cache."""
from .cache import (ADMINISTRATOR, ALL, SEND_MESSAGES, VIEW_CHANNEL, channel_permissions, compute_permissions,
                    member_roles)
from .stream import CommandRejected, Event, StreamWorker, shard_of

__all__ = ["StreamWorker", "Event", "CommandRejected", "shard_of", "member_roles", "channel_permissions",
           "compute_permissions", "ALL", "ADMINISTRATOR", "VIEW_CHANNEL", "SEND_MESSAGES"]
