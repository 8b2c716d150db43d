"""A step after a sweep: reads every set's metrics.json and parameters.json, which run_job
puts in BATCHPY_PARENT_RESULTS as <sweep>/<set>/ for the sweeps of the job file's
"resultsOf", and writes the parameters of the set with the highest metric to best.json."""

import argparse
import json
import os
import sys
from typing import Any, Dict, Iterator, Tuple


def read_sets(root: str) -> Iterator[Tuple[str, int, Dict[str, Any], Dict[str, Any]]]:
    """(sweep, set number, metrics, parameters) of each set that wrote metrics.json."""
    for sweep in sorted(os.listdir(root)):
        for name in sorted(os.listdir(os.path.join(root, sweep))):
            folder = os.path.join(root, sweep, name)
            metrics_file = os.path.join(folder, "metrics.json")
            # ASCII digits: int() refuses some that str.isdigit() accepts ("²").
            if not (name.isascii() and name.isdigit()) or not os.path.isfile(metrics_file):
                continue
            with open(metrics_file, encoding="utf-8") as f:
                metrics = json.load(f)
            parameters: Dict[str, Any] = {}
            # A set that ran as a job of its own has no manifest, so no parameters.json.
            if os.path.isfile(os.path.join(folder, "parameters.json")):
                with open(os.path.join(folder, "parameters.json"), encoding="utf-8") as f:
                    parameters = json.load(f)
            yield sweep, int(name), metrics, parameters


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Write the parameters of the sweep set with the highest metric to best.json."
    )
    parser.add_argument("--metric", default="product", help="the metrics.json key to maximise")
    args = parser.parse_args()
    root = os.environ.get("BATCHPY_PARENT_RESULTS")
    if root is None:
        parser.error('BATCHPY_PARENT_RESULTS is not set: name the sweep in the job\'s "resultsOf"')
    found = [s for s in read_sets(root) if _is_number(s[2].get(args.metric))]
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
