"""Helper module for forward-reference tests: postponed annotations, classes defined
after the ones that refer to them."""

from __future__ import annotations


class Controller:
    def __init__(self, service: LateService) -> None:
        self.service = service


class LateService:
    def __init__(self, repo: LateRepo) -> None:
        self.repo = repo


class LateRepo:
    pass


def make_controller(service: LateService) -> Controller:
    return Controller(service)
