"""A Click program and a Typer program served by injectq, for the CLI tests.

Resources write what happens to them to the journal file named by ``INJECTQ_JOURNAL``
(one line per event), so a test can read it after the program has exited.
``python cli_app.py click|typer <args>`` runs one of them as a real program.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import typer

from injectq import Inject, InjectQ, inject, resource
from injectq.integrations.click import setup_click, setup_typer


def journal(event: str) -> None:
    with Path(os.environ["INJECTQ_JOURNAL"]).open("a") as file:
        file.write(event + "\n")


@resource
class Settings:
    """App lifetime: disposed when the container closes (program exit)."""

    def initialize(self) -> None:
        journal("settings opened")

    def dispose(self) -> None:
        journal("settings closed")


class Store:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def count(self) -> int:
        self.conn.execute("CREATE TABLE IF NOT EXISTS runs (n INTEGER)")
        self.conn.execute("INSERT INTO runs VALUES (1)")
        return int(self.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


@resource()
def store(settings: Settings) -> Iterator[Store]:
    """Per invocation: a SQLite connection, closed when the command ends."""
    conn = sqlite3.connect(os.environ["INJECTQ_DB"])
    journal("store opened")
    try:
        yield Store(conn)
        conn.commit()
    except BaseException as exc:
        journal(f"store saw {type(exc).__name__}")
        raise
    finally:
        conn.close()
        journal("store closed")


def make_container() -> InjectQ:
    container = InjectQ()
    container.bind(Settings, Settings)
    container.bind(Store, store, scope="request")
    return container


# --------------------------------------------------------------------------- click
@click.group()
def cli() -> None:
    """A Click program."""


@cli.command()
@inject
def count(store: Store = Inject[Store]) -> None:
    click.echo(store.count())


@cli.command()
@click.argument("code", type=int)
@inject
def leave(code: int, store: Store = Inject[Store]) -> None:
    store.count()
    sys.exit(code)


@cli.command()
@inject
def fail(store: Store = Inject[Store]) -> None:
    store.count()
    raise RuntimeError("the command failed")


@cli.command()
@inject
def wait(store: Store = Inject[Store]) -> None:
    store.count()
    click.echo("ready", err=True)
    for _ in range(300):  # bounded: 30 s at most, until Ctrl-C
        time.sleep(0.1)


click_container = make_container()
setup_click(click_container, cli)


# --------------------------------------------------------------------------- typer
typer_app = typer.Typer(add_completion=False)


@typer_app.command("count")
@inject
def typer_count(times: int = 1, store: Store = Inject[Store]) -> None:
    for _ in range(times):
        typer.echo(store.count())


@typer_app.command("wait")
@inject
def typer_wait(store: Store = Inject[Store]) -> None:
    store.count()
    typer.echo("ready", err=True)
    for _ in range(300):
        time.sleep(0.1)


@typer_app.command("leave")
@inject
def typer_leave(code: int, store: Store = Inject[Store]) -> None:
    store.count()
    raise typer.Exit(code)


typer_container = make_container()
setup_typer(typer_container, typer_app)


if __name__ == "__main__":
    which = sys.argv.pop(1)
    if which == "click":
        cli()
    else:
        typer_app()
