"""Nothing process-wide keeps a user's class alive: programs and tests create classes on
the fly, and a container that is gone must not pin what it resolved."""

import gc
import weakref

from injectq import InjectQ, resource


def _collected(ref: weakref.ref[type]) -> bool:
    gc.collect()
    return ref() is None


def test_a_plain_class_resolved_by_a_dropped_container_is_collected() -> None:
    def make() -> weakref.ref[type]:
        class Dep:
            pass

        class Temp:
            def __init__(self, dep: Dep) -> None:
                self.dep = dep

        c = InjectQ()
        c.bind(Temp, Temp)
        assert isinstance(c.get(Temp).dep, Dep)
        c.bind(Dep, Dep, scope="transient")
        with c.scope("request"):
            c.get(Temp)
        return weakref.ref(Temp)

    assert _collected(make())


def test_a_resource_class_used_in_scopes_of_a_dropped_container_is_collected() -> None:
    def make() -> weakref.ref[type]:
        @resource
        class Conn:
            def initialize(self) -> None:
                pass

            def dispose(self) -> None:
                pass

        c = InjectQ()
        c.bind(Conn, Conn, scope="request")
        with c.scope("request"):
            c.get(Conn)
        return weakref.ref(Conn)

    assert _collected(make())
