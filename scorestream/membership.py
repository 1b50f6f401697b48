"""Static group membership: one stable instance id per process, so a restart is not a rebalance.

A consumer that joins its group with a ``group.instance.id`` (Kafka's static membership,
KIP-345) and restarts with the same id replaces its dead self at once: the broker hands it
the same partitions, without a rebalance and without waiting for the dead member's session
to time out (10 s by default; a restarted worker or sink used to wait that long, 10-15 s in
all). The price: a static member stopped for good keeps its partitions until its session
times out, since it never sends LeaveGroup; scaling down costs that wait once.

The id must be stable across restarts and unique among the group's live members. The
worker and the sink take ``--instance-id`` when given; otherwise :func:`claim_instance_id`
makes ``<hostname>-<slot>``: the slot is the lowest number whose lock file (one per group
and slot) this process could lock. The kernel releases the lock when the process dies, even
by SIGKILL, so a restarted process gets the slot (the id) of the one it replaces, and two
processes of one host never share an id.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import IO

from scorestream.exceptions import ScorestreamError

#: More processes of one group on one host than this is a mistake, not a deployment.
MAX_SLOTS = 256

#: Kafka's default bounds of a member's session timeout (group.min/max.session.timeout.ms).
MIN_SESSION_TIMEOUT_S = 6.0
MAX_SESSION_TIMEOUT_S = 1800.0

# The lock files stay open (locked) for the life of the process.
_held: list[IO[str]] = []


def members_dir() -> Path:
    """Where the slot lock files live: a directory of this user under the temporary one."""
    return Path(tempfile.gettempdir()) / f"scorestream-{os.getuid()}" / "members"


def claim_instance_id(
    group_id: str, *, directory: Path | None = None, host: str | None = None
) -> str:
    """A static member id for this process in ``group_id``: ``<host>-<slot>``.

    The slot's lock is held until the process exits.

    Raises
    ------
    ScorestreamError
        If every slot is taken (:data:`MAX_SLOTS` processes of the group on this host).
    """
    folder = directory or members_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", group_id)
    host = host or socket.gethostname() or "localhost"
    for slot in range(MAX_SLOTS):
        handle = (folder / f"{name}.{slot}.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _held.append(handle)
        return f"{host}-{slot}"
    raise ScorestreamError(
        f"{MAX_SLOTS} processes of group {group_id} already run on this host; "
        "give each an --instance-id"
    )


def heartbeat_interval_ms(session_timeout_s: float) -> int:
    """A third of the session (Kafka's advice), at most 3 s (the clients' default)."""
    return min(3_000, int(session_timeout_s * 1000) // 3)


#: How long the broker waits for every member to rejoin a rebalance. aiokafka's default is the
#: session timeout (10 s here, 6 s in tests), and a member whose revoke listener (finish the
#: batch, publish or store it, commit) takes longer is dropped from the new generation: its
#: commit fails, it rejoins, and the group rebalances again. A loaded machine took that long.
#: Below aiokafka's request timeout (40 s), which also bounds the JoinGroup request the broker
#: holds for this long: a longer wait timed the other members' joins out.
REBALANCE_TIMEOUT_MS = 30_000
