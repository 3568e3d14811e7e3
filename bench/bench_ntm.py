"""The NTM paper's tasks over several seeds: when does each run learn, and how well does it generalize?

For a task (copy, repeat-copy, recall) and a model (ntm, lstm), runs ``--seeds`` seeds of
``chainrule train --task T --model M --steps S`` (compiled, one BLAS thread each, as many at
once as there are cores) and prints per seed the step at which the moving-average bit error
first drops below 0.1 per sequence, and the bit errors at the task's test sizes (larger than
any it trained on) after the last step. ``--coretype`` runs the same under
``OPENBLAS_CORETYPE`` (OpenBLAS forced to another processor's kernels: other rounding, as on
another machine). ``--curves PATH`` draws the bit error against sequences seen, every seed,
of every (model, setup) the command ran, as the paper's figures do.

Not part of ``make test`` or ``make bench`` (minutes per seed). Example:

    python bench/bench_ntm.py --task copy --model ntm --seeds 5 --steps 5000
    python bench/bench_ntm.py --task copy --model ntm --seeds 5 --steps 5000 --coretype Haswell
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

THRESHOLD = 0.1


def run_seed(task: str, model: str, seed: int, steps: int, folder: Path, coretype: str | None, compile: bool) -> dict:
    out = folder / f"{task}-{model}-{coretype or 'default'}-{seed}"
    cmd = [sys.executable, "-m", "chainrule", "train", "--task", task, "--model", model, "--steps", str(steps),
           "--minutes", "600", "--seed", str(seed), "--threads", "1", "--out", str(out)]
    if compile:
        cmd.append("--compile")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    else:
        env.pop("OPENBLAS_CORETYPE", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        return {"seed": seed, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return read_run(out, seed)


def read_run(out: Path, seed: int) -> dict:
    """A finished run's numbers: first step below the threshold, the step from which it stayed
    below it to the end (None if it did not), the end, the test sizes, the curve."""
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    errors = [float(r["train_bit_error"]) for r in rows]
    first = next((int(r["step"]) for r, e in zip(rows, errors) if e < THRESHOLD), None)
    stays = None
    for r, e in zip(reversed(rows), reversed(errors)):
        if e >= THRESHOLD:
            break
        stays = int(r["step"])
    summary = json.loads((out / "summary.json").read_text())
    return {"seed": seed, "first": first, "stays": stays, "final": errors[-1], "tests": summary["bit_error"],
            "curve": [(int(r["examples"]), e) for r, e in zip(rows, errors)], "seconds": summary["seconds"]}


def draw(results: dict[str, list[dict]], task: str, path: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from chainrule.figures import pyplot, save_png

    plt = pyplot()
    if plt is None:
        print("curves skipped: matplotlib is not installed")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    colors = {}
    for label, runs in results.items():
        for r in runs:
            if "curve" not in r:
                continue
            xs, ys = zip(*r["curve"])
            line = ax.plot(xs, ys, color=colors.get(label), alpha=0.8, lw=1, label=label if label not in colors else None)
            colors.setdefault(label, line[0].get_color())
    ax.axhline(THRESHOLD, color="gray", lw=0.8, ls="--")
    ax.set(xlabel="sequences seen", ylabel="bit error per sequence (moving average)", yscale="log",
           title=f"{task} task: every seed")  # fmt: skip
    ax.set_ylim(bottom=1e-3)
    ax.legend()
    fig.tight_layout()
    save_png(fig, Path(path))
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="copy", choices=("copy", "repeat-copy", "recall"))
    parser.add_argument("--model", default="ntm", help="ntm, lstm, or both: ntm,lstm")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--coretype", default=None, help="also run under OPENBLAS_CORETYPE=THIS (e.g. Haswell)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="runs at once (one core each)")
    parser.add_argument("--eager", action="store_true", help="run uncompiled")
    parser.add_argument("--curves", default=None, help="write the learning curves to this PNG")
    parser.add_argument("--keep", default=None, help="keep the runs' folders here")
    parser.add_argument("--report", action="store_true", help="only tabulate the runs already in --keep")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_ntm-"))
    setups = [None] + ([args.coretype] if args.coretype else [])
    jobs = [(m, c, s) for m in args.model.split(",") for c in setups for s in range(args.seeds)]
    if args.report:
        # the runs that are there: e.g. an LSTM baseline run under the default kernels only
        found = [(j, folder / f"{args.task}-{j[0]}-{j[1] or 'default'}-{j[2]}") for j in jobs]
        done = [(j, read_run(path, j[2])) for j, path in found if (path / "summary.json").exists()]
    else:
        with ThreadPoolExecutor(args.jobs) as pool:
            done = list(pool.map(lambda j: (j, run_seed(args.task, j[0], j[2], args.steps, folder, j[1],
                                                        not args.eager)), jobs))  # fmt: skip
    results: dict[str, list[dict]] = {}
    for (m, c, _), r in done:
        results.setdefault(f"{m}, {'OpenBLAS ' + c if c else 'default kernels'}", []).append(r)
    print(f"{args.task} task, {args.steps} steps of 16 sequences, compiled={not args.eager}; first step with the moving "
          f"average below {THRESHOLD} bit per sequence; bit errors after the last step")
    for label, runs in results.items():
        sizes = next((list(r["tests"]) for r in runs if "tests" in r), [])
        print(f"\n{label}\n")
        print("| seed | first step < 0.1 | below 0.1 from step to the end | moving average at the end | "
              + " | ".join(f"at {s}" for s in sizes) + " | seconds |")  # fmt: skip
        print("|---|---|---|---|" + "---|" * len(sizes) + "---|")
        for r in runs:
            if "error" in r:
                print(f"| {r['seed']} | failed: {r['error']} |")
                continue
            tests = " | ".join(f"{r['tests'][s]:.2f}" for s in sizes)
            print(f"| {r['seed']} | {r['first'] if r['first'] is not None else 'not reached'} | "
                  f"{r['stays'] if r['stays'] is not None else 'no'} | {r['final']:.3f} | {tests} | {r['seconds']:.0f} |")
        reached = [r for r in runs if r.get("first") is not None]
        kept = [r for r in runs if r.get("stays") is not None]
        print(f"\n{len(reached)} of {len(runs)} seeds below {THRESHOLD} at some step"
              + (f" (steps: {sorted(r['first'] for r in reached)})" if reached else "")
              + f"; {len(kept)} of {len(runs)} below it from some step to the end"
              + (f" (from steps {sorted(r['stays'] for r in kept)})" if kept else ""))
    if args.curves:
        draw(results, args.task, args.curves)


if __name__ == "__main__":
    main()
