"""The ``chainrule`` command line (also ``python -m chainrule``).

- ``chainrule tour``: the lecture's examples, backward pass narrated gate by gate.
- ``chainrule train``: train a model on a data set, writing metrics, curves and weights.
- ``chainrule evaluate``: accuracy and confusion matrix of saved weights.
- ``chainrule explain EXPR --at x=..``: the backward pass of an expression, gate by gate.
- ``chainrule graph EXPR --at x=.. --out DIR``: its picture (DOT, SVG/PNG with Graphviz),
  the interactive page and the explanation, as files.

Bad arguments, unreadable or unwritable files and folders (every ``OSError``) and a
busy output folder get one line on stderr and exit status 2, never a traceback; a
training run that diverges (a NaN or Inf loss) stops with one line and exit status 1.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any, NoReturn


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number(kind: type, text: str) -> float | int:
    try:
        v = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v):  # nan and inf pass comparisons like v < 0 unnoticed
        raise argparse.ArgumentTypeError(f"{text} is not a finite number")
    return v


def _positive(kind: type) -> object:
    def parse(text: str) -> float | int:
        v = _number(kind, text)
        if not v > 0:
            raise argparse.ArgumentTypeError(f"{text} must be > 0")
        return v

    parse.__name__ = kind.__name__
    return parse


def _non_negative(text: str) -> float:
    v = _number(float, text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text} must be >= 0")
    return v


def _fraction(text: str) -> float:
    v = _number(float, text)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"{text} must be >= 0 and < 1")
    return v


class _Defaults(argparse.HelpFormatter):
    """Help that ends each option's line with its default (when it has one that says something)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        says = action.default is not None and action.default is not False and action.default != argparse.SUPPRESS
        if says and "%(default)" not in text and action.option_strings:
            text += " (default: %(default)s)"
        return text


def _parser() -> argparse.ArgumentParser:
    from .models import MODELS
    from .training import OPTIMIZERS

    parser = _Parser(prog="chainrule", description="Computational graphs and backpropagation.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    tour = sub.add_parser("tour", help="walk through the lecture's examples, backward pass narrated gate by gate")
    tour.add_argument("--report", default=None, help="also write the tour as one HTML page, e.g. out/tour.html")

    t = sub.add_parser("train", help="train a model; writes metrics.csv, curves.png, weights and a checkpoint",
                       formatter_class=_Defaults)  # fmt: skip
    t.add_argument("--model", choices=(*MODELS, "ntm", "lstm", "gpt"), default="mlp",
                   help="the model; ntm and lstm are for the sequence tasks (copy, repeat-copy, recall), gpt and lstm "
                        "for language modelling (--data text:PATH)")  # fmt: skip
    t.add_argument("--task", choices=("classify", "copy", "repeat-copy", "recall", "language"), default=None,
                   help="copy: the NTM paper's copy task (8-bit sequences, lengths 1-20); repeat-copy: copy it 1-10 "
                        "times (lengths 1-10), then an end marker; recall: associative recall (2-6 items of three "
                        "6-bit vectors; given one, answer the next); language: next-character prediction on a text "
                        "(default: language for --data text:..., else classify)")  # fmt: skip
    t.add_argument("--minutes", type=_positive(float), default=30.0, help="sequence tasks: training time limit")
    t.add_argument("--steps", type=_positive(int), default=None,
                   help="sequence tasks: step limit (default: none, --minutes decides); language: steps (default 400)")
    t.add_argument("--data", default="spiral",
                   help="spiral, digits, mnist:DIR, fashion-mnist:DIR or cifar10:DIR; for language modelling "
                        "text:PATH (a UTF-8 file) or text:pydoc (the standard library's pydoc topics)")
    t.add_argument("--block-size", type=_positive(int), default=64, help="language: characters of context")
    t.add_argument("--n-layer", type=_positive(int), default=4, help="gpt: transformer blocks")
    t.add_argument("--n-head", type=_positive(int), default=4, help="gpt: attention heads per block")
    t.add_argument("--n-embd", type=_positive(int), default=128, help="gpt: embedding width (a multiple of --n-head)")
    t.add_argument("--epochs", type=_positive(int), default=10, help="classify: passes over the training data")
    t.add_argument("--batch-size", type=_positive(int), default=None, help="64 (classify) or 16 (sequence tasks)")
    t.add_argument("--lr", type=_positive(float), default=None,
                   help="learning rate (step size): 0.1 (classify), 1e-3 (sequence tasks, times 0.3 once they are "
                        "below 1 bit per sequence), 1e-3 (language, gpt) or 3e-3 (language, lstm)")
    t.add_argument("--reg", type=_non_negative, default=1e-3, help="L2 strength lambda in L = data loss + lambda * sum W^2")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd", help="the update rule (classify; the sequence tasks use adam)")
    t.add_argument("--hidden", type=_positive(int), default=100, help="hidden units of the mlp")
    t.add_argument("--depth", type=_positive(int), default=1, help="hidden layers of the mlp")
    t.add_argument("--activation", choices=("relu", "sigmoid", "tanh"), default="relu", help="the mlp's nonlinearity")
    t.add_argument("--val-fraction", type=_fraction, default=0.1,
                   help="classify: share of the training data held out (per class, by --seed) for the validation "
                        "line of each epoch; 0 for none. The test split is used once, after training")
    t.add_argument("--seed", type=int, default=0, help="initialization, shuffling and data splits")
    t.add_argument("--out", default="out/train", help="folder for the run's files")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.safetensors")
    t.add_argument("--distributed", action="store_true",
                   help="train on every rank of the MPI job (mpiexec -n N chainrule train --distributed ...): "
                        "--batch-size is the global batch, split over the ranks; rank 0 prints and writes")
    t.add_argument("--threads", type=_positive(int), default=1,
                   help="sequence and language tasks: chainrule's threads for this run (set_num_threads; one per "
                        "process by default, so parallel runs on N cores do not starve each other)")
    t.add_argument("--compile", action="store_true",
                   help="trace the training step once (per input shape) and replay it (chainrule.compile): the same "
                        "numbers, faster")

    s = sub.add_parser("sample", help="continue a prompt with a trained language model (chainrule train --data text:...)",
                       formatter_class=_Defaults)  # fmt: skip
    s.add_argument("run", help="the folder train wrote (or its weights.safetensors)")
    s.add_argument("--prompt", default="\n", help="the text to continue")
    s.add_argument("--length", type=_positive(int), default=200, help="characters to generate")
    s.add_argument("--temperature", type=_positive(float), default=1.0, help="below 1: likelier characters")
    s.add_argument("--top-k", type=_positive(int), default=None, help="sample among the k likeliest characters")
    s.add_argument("--seed", type=int, default=0, help="the sampling's random seed")
    s.add_argument("--attention", default=None,
                   help="gpt: also draw the attention maps for the prompt (layer x head, query x key) as a PNG")

    e = sub.add_parser("evaluate", help="accuracy and confusion matrix of saved weights on a data set's test split")
    e.add_argument("--weights", required=True)
    e.add_argument("--data", default=None, help="as for train; defaults to the data the weights were trained on")

    for name, text in (("explain", "tell the backward pass of an expression, gate by gate"),
                       ("graph", "write an expression's graph: DOT, SVG/PNG (with Graphviz), HTML page, explanation"),
                       ("compile-source", "print the compiled forward and backward pass of an expression as NumPy code")):  # fmt: skip
        g = sub.add_parser(name, help=text)
        g.add_argument("expression", help='e.g. "(x + y) * z" or "q = x + y; f = q * z" (names, numbers, + - * / ** @, '
                       'indexing s[1], functions like exp, sigmoid, softmax, max(x, y)); a leading minus is fine: "-log(x)"')
        g.add_argument("--at", required=True, help='values, e.g. x=-2,y=5,z=-4 (a name may take a vector or a matrix: '
                       '"s=[1,2,3]", "W=[[1,2],[3,4]]")')
        if name == "graph":
            g.add_argument("--out", default="out/graph", help="folder for graph.dot, graph.svg, graph.png, graph.html, explanation.txt")
            g.add_argument("--scale", type=_positive(float), default=1.5,
                           help="size of graph.png and graph.svg: the PNG at 96 x SCALE dots per inch, the SVG SCALE times "
                                "Graphviz's size (3 for a slide)")
    return parser


def _expression(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from . import viz
    from .viz.explainer import trace
    from .viz.expr import ExpressionError, build, parse_values

    try:
        values = parse_values(args.at)
        f, leaves = build(args.expression, values)
        if args.command == "compile-source":
            print(_compiled_source(args.expression, values, leaves), end="")
            return 0
        tr = trace(f)
    except ExpressionError as e:
        return _fail(parser, args.command, str(e))
    text = tr.text(list(leaves.values()))
    # "q = x + y; f = q * z" names its values itself; a bare expression's result is named by build (f)
    named = "=" in args.expression
    title = args.expression if named else f"{f.name} = {args.expression}"
    print(f"{title}  at  {args.at}")
    print(text)
    if args.command == "explain":
        return 0
    from .serialization import atomic_write
    from .training.rundir import check_folder

    try:
        out = check_folder(args.out)
    except ValueError as e:
        return _fail(parser, args.command, str(e))

    atomic_write(out / "graph.dot", viz.to_dot(f, tr=tr, title=args.expression).encode())
    atomic_write(out / "explanation.txt", (text + "\n").encode())
    viz.to_html(f, out / "graph.html", title=title, tr=tr)
    written = ["graph.dot", "graph.html", "explanation.txt"]
    try:
        for suffix in ("svg", "png"):
            viz.render(f, out / f"graph.{suffix}", tr=tr, scale=args.scale)
            written.append(f"graph.{suffix}")
    except viz.GraphvizNotFound as e:
        print(f"graph.svg and graph.png skipped: {e}")
    print(f"wrote {', '.join(written)} to {out}")
    return 0


def _compiled_source(expression: str, values: dict, leaves: dict) -> str:
    """The source ``chainrule.compile`` writes for f and its gradient in each variable."""
    from .autograd.engine import grad
    from .compiler import compile as compile_step
    from .viz.expr import build

    names = list(leaves)

    def gradient(*tensors: Any) -> tuple:
        f, _ = build(expression, values, dict(zip(names, tensors)))
        return (f, *grad(f, list(tensors)))

    step = compile_step(gradient, fuse=False)
    step(*leaves.values())
    return step.source()


def _check_data(spec: str) -> str | None:
    kind, _, folder = spec.partition(":")
    if kind in ("mnist", "fashion-mnist", "cifar10"):
        if not folder:
            return f"--data {spec}: expected {kind}:DIR, the folder holding the files"
        if not Path(folder).is_dir():
            return f"--data {spec}: no such folder {folder}"
    elif kind not in ("spiral", "digits") or folder:
        return f"--data {spec!r}: expected spiral, digits, mnist:DIR, fashion-mnist:DIR or cifar10:DIR"
    return None


def _fail(parser: argparse.ArgumentParser, command: str, message: str) -> int:
    print(f"{parser.prog} {command}: error: {message}", file=sys.stderr)
    return 2


def _train(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .training import Config, FolderBusy, train_classifier

    if args.task is None:
        args.task = "language" if args.data.startswith("text:") else "classify"
    if args.task == "language" or args.model == "gpt":
        return _train_language(parser, args)
    if args.task != "classify" or args.model in ("ntm", "lstm"):
        return _train_copy(parser, args)
    args.batch_size = args.batch_size or 64
    args.lr = args.lr or 0.1
    problem = _check_data(args.data)
    if problem:
        return _fail(parser, "train", problem)
    if args.model in ("cnn", "alexnet-cifar") and args.data == "spiral":
        return _fail(parser, "train", f"--model {args.model} needs images; spiral is 2-D points (use digits, mnist:DIR, ...)")
    config = Config(model=args.model, data=args.data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                    reg=args.reg, optimizer=args.optimizer, seed=args.seed, hidden=args.hidden, depth=args.depth,
                    activation=args.activation, val_fraction=args.val_fraction)  # fmt: skip
    try:
        train_classifier(config, out=args.out, resume=args.resume, log=sys.stdout, compile=args.compile,
                         distributed=args.distributed)
    except (ValueError, FileNotFoundError, ImportError, FolderBusy) as e:
        return _fail_all(parser, "train", str(e), args.distributed)
    return 0


def _train_language(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .training import FolderBusy, train_language

    if args.task != "language" or args.model not in ("gpt", "lstm") or not args.data.startswith("text:"):
        return _fail(parser, "train", "language modelling trains --model gpt or --model lstm on --data text:PATH "
                     "(or text:pydoc)")  # fmt: skip
    if args.n_embd % args.n_head:
        return _fail(parser, "train", f"--n-embd {args.n_embd} is not a multiple of --n-head {args.n_head}")
    try:
        train_language(args.model, args.data, steps=args.steps or 400, batch=args.batch_size or 16,
                       block_size=args.block_size, lr=args.lr, n_layer=args.n_layer, n_head=args.n_head,
                       n_embd=args.n_embd, seed=args.seed, out=args.out, log=sys.stdout, compile=args.compile,
                       resume=args.resume, distributed=args.distributed, threads=args.threads)  # fmt: skip
    except (ValueError, FileNotFoundError, ImportError, FolderBusy) as e:
        return _fail_all(parser, "train", str(e), args.distributed)
    return 0


def _stop_peers(distributed: bool, code: int, message: str) -> None:
    """In a distributed run of several ranks, end them all now with ``message`` (none waits on this one)."""
    if distributed:
        from . import distributed as dist

        if dist.world_size() > 1:
            dist.abort(code, f"{message} (rank {dist.rank()})")


def _fail_all(parser: argparse.ArgumentParser, command: str, message: str, distributed: bool) -> int:
    """One line and status 2; in a distributed run, every rank stops with it."""
    _stop_peers(distributed, 2, f"{parser.prog} {command}: error: {message}")
    return _fail(parser, command, message)


def _train_copy(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .training import FolderBusy, train_sequence

    if args.task == "classify" or args.model not in ("ntm", "lstm"):
        return _fail(parser, "train", "the sequence tasks train --model ntm or --model lstm, with --task copy, "
                     "repeat-copy or recall")  # fmt: skip
    try:
        train_sequence(args.model, task=args.task, minutes=args.minutes, steps=args.steps, batch=args.batch_size or 16,
                       lr=args.lr or 1e-3, seed=args.seed, out=args.out, log=sys.stdout, compile=args.compile,
                       threads=args.threads, resume=args.resume, distributed=args.distributed)  # fmt: skip
    except (ValueError, FileNotFoundError, ImportError, FolderBusy) as e:
        return _fail_all(parser, "train", str(e), args.distributed)
    return 0


def _sample(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from .models import GPT
    from .training.runs import language_model_from_weights

    try:
        model, vocab = language_model_from_weights(args.run)
        ids = vocab.encode(args.prompt)
        if len(ids) == 0:
            return _fail(parser, "sample", "--prompt is empty; expected at least one character")
        out = model.generate(ids[None], args.length, temperature=args.temperature, top_k=args.top_k, seed=args.seed)
        if args.attention:
            if not isinstance(model, GPT):
                return _fail(parser, "sample", "--attention draws a gpt's attention; this model is an lstm")
            from .viz.attention import plot_attention

            plot_attention(model, vocab, args.prompt, args.attention)
    except (ValueError, FileNotFoundError, ImportError) as e:
        return _fail(parser, "sample", str(e))
    print(vocab.decode(out[0]))
    if args.attention:
        print(f"wrote {args.attention}", file=sys.stderr)
    return 0


def _evaluate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    import numpy as np

    from .models import model_from_weights
    from .tasks import accuracy, confusion_matrix, load_data, loss_function, predict
    from .training import evaluate

    try:
        model, meta = model_from_weights(args.weights)
        cfg = meta["config"]
        spec = args.data or cfg["data"]
        problem = _check_data(spec)
        if problem:
            return _fail(parser, "evaluate", problem)
        test = load_data(spec, cfg.get("seed", 0)).test
        if tuple(test.x.shape[1:]) != tuple(meta["input_shape"]):
            return _fail(parser, "evaluate", f"{spec} has inputs of shape {test.x.shape[1:]}; the weights expect {tuple(meta['input_shape'])}")
        measured = evaluate(model, test, loss_function(cfg["model"]), {"acc": accuracy})
        loss, acc, pred = measured["loss"], measured["acc"], predict(model, test)
    except (ValueError, FileNotFoundError, ImportError) as e:
        return _fail(parser, "evaluate", str(e))
    k = meta["num_classes"]
    cm = confusion_matrix(test.y, pred, k)
    print(f"{cfg['model']} on {spec} (test split, {len(test)} examples): accuracy {acc:.2%}, data loss {loss:.4f}")
    print("confusion matrix (rows: true class, columns: predicted):")
    width = max(3, len(str(int(cm.max()))) + 1)
    print("     " + "".join(f"{j:>{width}}" for j in range(k)))
    for i in range(k):
        print(f"{i:>4} " + "".join(f"{int(v):>{width}}" for v in cm[i]))
    per_class = np.diag(cm) / np.maximum(cm.sum(axis=1), 1)
    print("per-class accuracy: " + ", ".join(f"{i}: {a:.0%}" for i, a in enumerate(per_class)))
    return 0


_EXPRESSION_COMMANDS = ("explain", "graph", "compile-source")
_EXPRESSION_OPTIONS = ("--at", "--out")  # the options that take a value


def _expression_last(argv: list[str]) -> list[str]:
    """``explain "-log(x)" --at x=2``: argparse takes an argument starting with ``-`` for an
    option, so an expression with a leading minus is moved behind ``--`` (after the options),
    where argparse reads everything as positional.

    >>> _expression_last(["explain", "-log(x)", "--at", "x=2"])
    ['explain', '--at', 'x=2', '--', '-log(x)']
    >>> _expression_last(["explain", "x * y", "--at", "x=2,y=3"])
    ['explain', 'x * y', '--at', 'x=2,y=3']
    """
    if not argv or argv[0] not in _EXPRESSION_COMMANDS or "--" in argv:
        return argv
    rest, i = argv[1:], 0
    while i < len(rest):
        a = rest[i]
        if a.startswith("--") or a == "-h":  # an option (abbreviated too: --a), with its value
            i += 2 if any(o.startswith(a) for o in _EXPRESSION_OPTIONS) and "=" not in a and a != "--" else 1
            continue
        if a.startswith("-") and len(a) > 1:  # the expression: -log(x), -x*y, -(x + y)
            return [argv[0], *rest[:i], *rest[i + 1 :], "--", a]
        return argv  # the expression comes first and has no leading minus
    return argv


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad arguments)."""
    parser = _parser()
    args = parser.parse_args(_expression_last(list(sys.argv[1:] if argv is None else argv)))
    from .training import Diverged

    try:
        return _dispatch(parser, args)
    except BrokenPipeError:  # `chainrule train ... | head`: the reader left; stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Diverged as e:
        _stop_peers(getattr(args, "distributed", False), 1, f"{parser.prog} {args.command}: {e}")
        print(f"{parser.prog} {args.command}: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a folder or file the user named cannot be read or written
        where = f"{e.filename}: " if e.filename else ""
        return _fail_all(parser, args.command, f"{where}{e.strerror or e}", getattr(args, "distributed", False))


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "tour":
        from .viz import tour

        examples = tour.run(sys.stdout)
        if args.report:
            from .viz.report import write_report

            print(f"\nwrote {write_report(examples, args.report)}")
        return 0
    if args.command == "train":
        return _train(parser, args)
    if args.command in ("explain", "graph", "compile-source"):
        return _expression(parser, args)
    if args.command == "sample":
        return _sample(parser, args)
    return _evaluate(parser, args)


if __name__ == "__main__":
    sys.exit(main())
