"""Click and Typer integration: every command invocation runs in its own scope.

::

    import click
    from injectq import Inject, InjectQ, inject
    from injectq.integrations.click import setup_click

    container = InjectQ()

    @click.group()
    def cli() -> None: ...

    @cli.command()
    @click.argument("name")
    @inject
    def greet(name: str, greeter: Greeter = Inject[Greeter]) -> None:
        click.echo(greeter.greet(name))

    setup_click(container, cli)   # after the commands are declared

:func:`setup_click` wraps the callback of ``cli`` and of every command under it (a
group's callback included): each invocation runs in ``container.scope("request")`` with
the container active (what ``@inject`` uses), so the resources it activated are
disposed when it returns, raises, exits (``ctx.exit``, ``sys.exit``) or is interrupted
(Ctrl-C). The container is closed when the program's outermost Click context closes:
after the command, also after an error, ``Abort`` or ``KeyboardInterrupt``. Exit codes
are Click's own: nothing is caught.

:func:`setup_typer` does the same for a ``typer.Typer`` app (its commands, callbacks
and sub-apps); parameters whose default is ``Inject[T]`` are hidden from Typer, which
would otherwise make them command-line options.

Needs ``click`` (``pip install injectq[click]``; Typer brings it); importing
:mod:`injectq` does not import this module.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

try:
    import click
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "injectq.integrations.click needs click: pip install 'injectq[click]'"
    ) from exc

from injectq.core.markers import EMPTY, inject_key_of

if TYPE_CHECKING:
    from injectq.core.container import InjectQ

__all__ = ["setup_click", "setup_typer"]

#: marks a wrapped callback (so setting up twice wraps once) and a root context whose
#: close already closes the container
_WRAPPED = "_injectq_command_scope"
_CLOSES = "injectq.closes_container"


def _in_scope(
    container: InjectQ,
    callback: Callable[..., Any],
    scope_name: str,
    current_context: Callable[..., Any] = click.get_current_context,
) -> Any:
    """``callback`` run in its own scope, the container closed with the root context
    (``current_context``: Click's, or the one of the Click copy Typer ships)."""

    @functools.wraps(callback)
    def run_in_scope(*args: Any, **kwargs: Any) -> Any:
        ctx = current_context(silent=True)
        if ctx is not None:
            root = ctx.find_root()
            if not root.meta.get(_CLOSES):
                root.meta[_CLOSES] = True
                root.call_on_close(container.close)
        with container.activate(), container.scope(scope_name):
            return callback(*args, **kwargs)

    setattr(run_in_scope, _WRAPPED, True)
    return run_in_scope


def _hide_injected(wrapper: Any, callback: Callable[..., Any]) -> None:
    """Give ``wrapper`` the signature of ``callback`` without its ``Inject[T]`` defaults
    (Typer builds options from the signature)."""
    signature = inspect.signature(callback)
    kept = [p for p in signature.parameters.values() if inject_key_of(p.default) is EMPTY]
    wrapper.__signature__ = signature.replace(parameters=kept)


def setup_click(container: InjectQ, cli: click.Command, *, scope_name: str = "request") -> None:
    """Run every invocation of ``cli`` and its commands (recursively, as declared now)
    in its own ``scope_name`` scope; close ``container`` when the program's outermost
    Click context closes."""
    container.scope(scope_name)  # an invalid name fails here, not at the first command
    pending = [cli]
    while pending:
        command = pending.pop()
        callback = command.callback
        if callback is not None and not getattr(callback, _WRAPPED, False):
            command.callback = _in_scope(container, callback, scope_name)
        if isinstance(command, click.Group):
            pending.extend(command.commands.values())


def _typer_current_context() -> Callable[..., Any]:
    """Typer 0.2x runs on its own copy of Click (``typer._click``), whose current
    context Click's ``get_current_context`` does not see; older Typer uses Click."""
    try:
        from typer._click.globals import get_current_context
    except ImportError:
        return click.get_current_context
    return get_current_context


def setup_typer(container: InjectQ, typer_app: Any, *, scope_name: str = "request") -> None:
    """:func:`setup_click` for a ``typer.Typer`` app: its commands, callbacks and
    sub-apps (as declared now) run in their own scope, ``Inject[T]`` parameters hidden
    from Typer; the container closed when the program's outermost context closes."""
    container.scope(scope_name)
    current_context = _typer_current_context()
    pending = [typer_app]
    while pending:
        app = pending.pop()
        infos = [*app.registered_commands]
        if app.registered_callback is not None:
            infos.append(app.registered_callback)
        for info in infos:
            callback = info.callback
            if callback is not None and not getattr(callback, _WRAPPED, False):
                wrapper = _in_scope(container, callback, scope_name, current_context)
                _hide_injected(wrapper, callback)
                info.callback = wrapper
        pending.extend(group.typer_instance for group in app.registered_groups)
