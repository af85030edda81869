"""Sync/async parity by introspection: same public methods, same signatures."""

from __future__ import annotations

import inspect

from jditem import AsyncClient, Client

LIFECYCLE = {"__enter__": "__aenter__", "__exit__": "__aexit__"}


def public(cls: type) -> dict[str, object]:
    """Public members of ``cls`` and its bases (the twins share some through ``Twin``)."""
    members: dict[str, object] = {}
    for klass in reversed(cls.__mro__[:-1]):  # object left out
        members.update(vars(klass))
    return {
        name: member
        for name, member in members.items()
        if not name.startswith("_") or name in LIFECYCLE or name in LIFECYCLE.values()
    }


def test_same_public_methods() -> None:
    sync_names = {LIFECYCLE.get(name, name) for name in public(Client)}
    assert sync_names == set(public(AsyncClient))


def test_same_signatures_and_async_where_it_does_io() -> None:
    for name, member in public(Client).items():
        twin = public(AsyncClient)[LIFECYCLE.get(name, name)]
        if isinstance(member, property):
            assert isinstance(twin, property), name
            continue
        sync_sig = inspect.signature(member)  # type: ignore[arg-type]
        async_sig = inspect.signature(twin)  # type: ignore[arg-type]
        assert list(sync_sig.parameters) == list(async_sig.parameters), name
        for param in sync_sig.parameters.values():
            other = async_sig.parameters[param.name]
            assert (param.kind, param.default) == (other.kind, other.default), (name, param)
        does_io = name in {"get", "fetch", "probe", "resume", "close", "__exit__"} or (
            inspect.iscoroutinefunction(twin)
        )
        assert inspect.iscoroutinefunction(twin) is does_io, name
        assert not inspect.iscoroutinefunction(member), name
        assert (member.__doc__ is None) == (twin.__doc__ is None), name  # type: ignore[union-attr]


def test_package_exports() -> None:
    import jditem

    assert jditem.__all__ == sorted(jditem.__all__)
    assert set(jditem.__all__) == {"AsyncClient", "Client", "Product", "__version__", "errors"}
    assert issubclass(jditem.errors.FatalError, jditem.errors.JditemError)
