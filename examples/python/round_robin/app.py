"""A round-robin balancer in Python, built by componentize-py with its default options.

componentize-py creates a fresh `Balancer` object for every call into the component, so
state that must live between calls is kept at module level, not on `self`.
"""

from componentize_py_types import Err

import wit_world.exports
from wit_world.exports import balancer
from wit_world.imports import host

_upstreams: list = []
_next = 0


class Balancer(wit_world.exports.Balancer):
    def init(self, config: str) -> balancer.Options:
        if config not in ("", "round-robin"):
            # A `result` error is raised as `Err`; the gateway refuses the config with it.
            raise Err(f"unknown config {config!r}")
        return balancer.Options(loads=balancer.LoadView.SAMPLED, headers=[])

    def set_upstreams(self, generation: int, upstreams: list) -> None:
        global _upstreams, _next
        _upstreams = list(upstreams)
        _next = 0
        host.log(host.Level.DEBUG, f"generation {generation}: {len(upstreams)} upstreams")

    def pick(self, key_hash, headers, loads):
        global _next
        if not _upstreams:
            return None  # nothing can serve: the gateway answers 503
        picked = _next % len(_upstreams)
        _next = (_next + 1) % len(_upstreams)
        return picked
