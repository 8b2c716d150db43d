/**
 * How long the whole program takes to evaluate under mocks: the cost of every test run and
 * of `npm run policy:check`, and a fair proxy for the program's share of `pulumi preview`.
 */
import { performance } from "perf_hooks";
import { evaluateProgram } from "../../policy/check/evaluate";
import { BenchResult } from "./result";

const WARM_RUNS = 5;

export async function benchProgram(): Promise<BenchResult[]> {
  let start = performance.now();
  const first = await evaluateProgram({ stack: "dev" });
  const cold = performance.now() - start;

  start = performance.now();
  for (let i = 0; i < WARM_RUNS; i++) {
    await evaluateProgram({ stack: "dev" });
  }
  const warm = (performance.now() - start) / WARM_RUNS;
  return [
    {
      name: "program: evaluate dev under mocks, first run (module loading included)",
      value: cold / 1000,
      unit: "s",
      target: "< 3 s",
    },
    {
      name: `program: evaluate dev under mocks, mean of ${WARM_RUNS} more runs`,
      value: warm / 1000,
      unit: "s",
      target: "< 3 s",
    },
    {
      name: "program: resources registered for dev",
      value: first.resources.length,
      unit: "resources",
    },
  ];
}
