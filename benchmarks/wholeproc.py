"""Child-process entry point for S6p: import the adapter (and so the library), build the
container of 200 classes and resolve each once. The parent times the whole process."""

import importlib

from benchmarks import model


def main(name: str) -> None:
    module = "floor" if name == "floor" else f"{name}_adapter"
    adapter = importlib.import_module(f"benchmarks.adapters.{module}")
    out = adapter.s6(model.make_s6_classes())()
    assert len(out) == model.S6_COUNT
