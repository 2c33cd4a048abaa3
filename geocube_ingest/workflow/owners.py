"""Who holds a lease or a provider slot: `host:pid:role` strings, and what they tell.

The owner string is the only thing a worker leaves in the database about itself, so it
says where the worker runs: leases of a dead process on this machine can be handed out at
once (`dead_local_owners`), those of another host are waited for until they expire, and a
worker waiting for them can say which host holds them.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass


def host_id() -> str:
    return socket.gethostname()


def owner_id(role: str) -> str:
    """`host:pid:role`: unique per worker, and tells which leases a dead local process left."""
    return f"{host_id()}:{os.getpid()}:{role}"


def process_prefix() -> str:
    """The start of every owner string of this process (its leases and slots)."""
    return f"{host_id()}:{os.getpid()}:"


@dataclass(frozen=True, slots=True)
class Owner:
    host: str
    pid: int | None
    role: str

    @classmethod
    def parse(cls, owner: str) -> Owner:
        host, _, rest = owner.partition(":")
        pid, _, role = rest.partition(":")
        return cls(host, int(pid) if pid.isdigit() else None, role)

    @property
    def prefix(self) -> str:
        """The start of every owner string of that process."""
        return f"{self.host}:{self.pid}:"

    def where(self) -> str:
        """Where it runs, seen from this process."""
        if self.host != host_id():
            return f"on host {self.host}"
        if self.pid == os.getpid():
            return "in this process"
        return "in another process of this host"


def is_mine(owner: str) -> bool:
    return owner.startswith(process_prefix())


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_local_owners(owners: set[str]) -> list[str]:
    """Owners that ran on this machine in a process that no longer exists (killed, crashed)."""
    dead = []
    for owner in owners:
        parsed = Owner.parse(owner)
        local = parsed.host == host_id() and parsed.pid is not None and parsed.pid != os.getpid()
        if local and parsed.pid is not None and not pid_alive(parsed.pid):
            dead.append(owner)
    return sorted(dead)
