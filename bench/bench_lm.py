"""Character-level language modelling: the GPT against the LSTM on the same text, several seeds.

Each run is ``chainrule train --model M --data TEXT --steps N --seed S`` in a process of its own
(one BLAS thread; ``--jobs`` at once). The table gives, per model and seed, the validation bits
per character after the last step and its time; the text's unigram entropy is the bar (a model
that learned only letter frequencies sits there). ``--curves`` draws validation bits per
character against steps, every run.

    python bench/bench_lm.py --data text:pydoc --models gpt,lstm --seeds 3 --steps 400 --curves docs/lm-curves.png
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def run(model: str, seed: int, args: argparse.Namespace, folder: Path) -> dict:
    out = folder / f"{model}-{seed}"
    cmd = [sys.executable, "-m", "chainrule", "train", "--model", model, "--data", args.data, "--steps",
           str(args.steps), "--seed", str(seed), "--out", str(out), "--threads", "1"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        return {"model": model, "seed": seed, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    summary = json.loads((out / "summary.json").read_text())
    return {"model": model, "seed": seed, "val_bpc": float(rows[-1]["val_bpc"]), "seconds": summary["seconds"],
            "unigram": summary["unigram_entropy_bpc"],
            "curve": [(int(r["step"]), float(r["val_bpc"])) for r in rows]}  # fmt: skip


def draw(results: list[dict], path: str, unigram: float) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from chainrule.figures import pyplot, save_png

    plt = pyplot()
    if plt is None:
        print("curves skipped: matplotlib is not installed")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    colors: dict[str, str] = {}
    for r in results:
        if "curve" in r:
            xs, ys = zip(*r["curve"])
            line = ax.plot(xs, ys, marker=".", color=colors.get(r["model"]), alpha=0.8,
                           label=r["model"] if r["model"] not in colors else None)  # fmt: skip
            colors.setdefault(r["model"], line[0].get_color())
    ax.axhline(unigram, color="gray", lw=0.8, ls="--", label="unigram entropy")
    ax.set(xlabel="step", ylabel="validation bits per character", title="character-level language model, every seed")
    ax.legend()
    fig.tight_layout()
    save_png(fig, Path(path))
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="text:pydoc")
    parser.add_argument("--models", default="gpt,lstm")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--curves", default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_lm-"))
    jobs = [(m, s) for m in args.models.split(",") for s in range(args.seeds)]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda j: run(j[0], j[1], args, folder), jobs))
    ok = [r for r in results if "error" not in r]
    unigram = ok[0]["unigram"] if ok else float("nan")
    print(f"{args.data}, {args.steps} steps, seeds 0-{args.seeds - 1}; the text's unigram entropy {unigram:.3f} "
          "bits per character")  # fmt: skip
    print()
    print("| model | seed | validation bits per character | seconds |")
    print("|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['model']} | {r['seed']} | failed: {r['error']} | |")
        else:
            print(f"| {r['model']} | {r['seed']} | {r['val_bpc']:.3f} | {r['seconds']:.0f} |")
    for m in args.models.split(","):
        values = [r["val_bpc"] for r in ok if r["model"] == m]
        if values:
            spread = f" (spread {min(values):.3f}-{max(values):.3f})" if len(values) > 1 else ""
            print(f"{m}: mean {statistics.mean(values):.3f}{spread}")
    if args.curves:
        draw(results, args.curves, unigram)


if __name__ == "__main__":
    main()
