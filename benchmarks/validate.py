"""How long ``container.validate()`` takes on a 200-binding container (issue 14: < 10 ms).

    uv run python benchmarks/validate.py [--repeats 20]

The container binds S6's 200 generated classes (chains of 10 with diamonds,
``benchmarks.model``), a tenth of them request-scoped (the ends of chains, so the graph
stays sound) and bound through resource classes, as an app's would be. Two figures:

- ``first``: a fresh container's first ``validate()``: every signature read and planned;
- ``again``: a second ``validate()`` of the same container: the plans are kept (as the
  resolution that follows would use them), only the walk and the checks run.

Median over the repeats, each on fresh classes (no cache from an earlier repeat).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.model import S6_COUNT, make_s6_classes
from injectq import InjectQ


def build() -> InjectQ:
    classes = make_s6_classes()
    container = InjectQ()
    for i, cls in enumerate(classes):
        last_of_chain = i % 10 == 9  # nothing depends on it: it may be request-scoped
        if last_of_chain and i % 20 == 19:
            cls._is_injectq_resource = True  # type: ignore[attr-defined]  # a resource class
            container.bind(cls, cls, scope="request")
        else:
            container.bind(cls, cls, scope="singleton" if i % 2 else "transient")
    assert len(container.bindings) - 2 == S6_COUNT  # the container's own two bindings
    return container


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    first: list[float] = []
    again: list[float] = []
    for _ in range(args.repeats):
        container = build()
        started = time.perf_counter()
        problems = container.validate()
        first.append(time.perf_counter() - started)
        started = time.perf_counter()
        container.validate()
        again.append(time.perf_counter() - started)
        assert problems == [], problems
    print(f"validate() of a {S6_COUNT}-binding container, median of {args.repeats}:")
    print(f"  first (plans everything): {statistics.median(first) * 1000:.2f} ms")
    print(f"  again (plans kept):       {statistics.median(again) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
