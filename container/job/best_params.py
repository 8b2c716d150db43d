"""A step after a sweep: reads every set's metrics.json and parameters.json, which run_job
puts in BATCHPY_PARENT_RESULTS as <sweep>/<set>/ for the sweeps of the job file's
"resultsOf", and writes the parameters of the set with the highest metric to best.json."""

import argparse
import json
import os
import pathlib
import sys
from typing import Any, Dict, Iterator, Tuple


def read_sets(root: str) -> Iterator[Tuple[str, int, Dict[str, Any], Dict[str, Any]]]:
    """(sweep, set number, metrics, parameters) of each set that wrote metrics.json."""
    for folder in sorted(pathlib.Path(root).glob("*/*")):
        metrics_file, params = folder / "metrics.json", folder / "parameters.json"
        # ASCII digits: int() refuses some that str.isdigit() accepts ("²").
        if not (folder.name.isascii() and folder.name.isdigit()) or not metrics_file.is_file():
            continue
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        # A set that ran as a job of its own has no manifest, so no parameters.json.
        parameters = json.loads(params.read_text(encoding="utf-8")) if params.is_file() else {}
        yield folder.parent.name, int(folder.name), metrics, parameters


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Write the parameters of the sweep set with the highest metric to best.json."
    )
    parser.add_argument("--metric", default="product", help="the metrics.json key to maximise")
    args = parser.parse_args()
    root = os.environ.get("BATCHPY_PARENT_RESULTS")
    if root is None:
        parser.error('BATCHPY_PARENT_RESULTS is not set: name the sweep in the job\'s "resultsOf"')
    # A JSON number (true and false load as bool, not int).
    found = [s for s in read_sets(root) if type(s[2].get(args.metric)) in (int, float)]
    if not found:
        sys.exit(f"no set under {root} has a number {args.metric} in its metrics.json")
    sweep, number, metrics, parameters = max(found, key=lambda s: s[2][args.metric])
    best = {**parameters, args.metric: metrics[args.metric]}
    with open("best.json", "w", encoding="utf-8") as f:
        json.dump({"sweep": sweep, "set": number, **best}, f, indent=2)
    # As JSON: values from the parents' files print escaped, so none can forge a log line.
    print(f"best of {len(found)} sets: {json.dumps(best)}")


if __name__ == "__main__":
    main()
