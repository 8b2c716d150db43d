"""The AWS Batch Python tutorial's example job: multiplies two numbers, pickles the product
into <save_name>.p (run_job.py uploads it to results/<job name>/) and writes metrics.json
for `npm run jobs:report`. Any argparse script works in its place: run_job.py maps each job
variable named like an option (var_a -> --var_a) onto the command line."""

import argparse
import json
import pickle


def main() -> None:
    parser = argparse.ArgumentParser(description="Multiply var_a by var_b and pickle it.")
    parser.add_argument("--var_a", type=int, default=1, help="first factor")
    parser.add_argument("--var_b", type=int, default=2, help="second factor")
    parser.add_argument("--save_name", type=str, required=True, help="result file name, without .p")
    args = parser.parse_args()

    result = args.var_a * args.var_b
    print(f"{args.var_a} * {args.var_b} = {result}")
    with open(f"{args.save_name}.p", "wb") as f:
        pickle.dump(result, f)
    print(f"saved {args.save_name}.p")
    with open("metrics.json", "w") as f:
        json.dump({"product": result}, f)


if __name__ == "__main__":
    main()
