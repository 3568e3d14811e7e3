"""Distributed data-parallel training on MPI: the same weights as one process, and no hangs.

The multi-process tests start ``mpiexec`` (the PyPI ``mpich`` wheel puts it in the venv) on
``tests/dist_worker.py``; they skip, saying why, where mpi4py or mpiexec is missing.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from dist_worker import model, steps

import chainrule as cr
from chainrule import distributed as dist
from chainrule import nn

WORKER = Path(__file__).with_name("dist_worker.py")


def mpiexec() -> str:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip("mpi4py is not installed (pip install 'chainrule[dist]')")
    exe = Path(sys.executable).with_name("mpiexec")
    found = str(exe) if exe.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpiexec (the PyPI mpich wheel brings one: pip install 'chainrule[dist]')")
    return found


def run(n: int, *args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}  # one BLAS thread per rank
    proc = subprocess.run([mpiexec(), "-n", str(n), sys.executable, str(WORKER), *args], capture_output=True,
                          text=True, timeout=timeout, env=env, check=False)
    return proc, time.perf_counter() - start


# -- in one process ---------------------------------------------------------------------------


def test_a_world_of_one_is_a_no_op():
    assert dist.init() == (0, 1) and dist.world_size() == 1 and dist.rank() == 0 and dist.is_main()
    assert dist.all_reduce(2.5, "mean") == 2.5 and dist.broadcast_object({"a": 1}) == {"a": 1}
    dist.barrier()
    net = nn.Linear(3, 2)
    wrapped = dist.DistributedDataParallel(net)
    assert [n for n, _ in wrapped.named_parameters()] == ["weight", "bias"] and sorted(wrapped.state_dict()) == ["bias", "weight"]
    with pytest.raises(ValueError, match="all_reduce: op 'avg'"):
        dist.all_reduce(1.0, "avg")


def test_sampler_shards_are_disjoint_and_make_the_global_batches():
    n, world, batch = 40, 4, 8
    shards = [dist.DistributedSampler(n, seed=3, world=world, rank=r) for r in range(world)]
    parts = [s.indices(2) for s in shards]
    assert sorted(np.concatenate(parts).tolist()) == list(range(n))  # disjoint, and all of them
    order = np.random.default_rng((3, 2)).permutation(n)
    local = batch // world
    for t in range(n // batch):  # the t-th local batches of all ranks = the t-th global batch
        together = np.concatenate([p[t * local : (t + 1) * local] for p in parts])
        assert sorted(together.tolist()) == sorted(order[t * batch : (t + 1) * batch].tolist())
    assert [len(dist.DistributedSampler(10, world=4, rank=r)) for r in range(4)] == [3] * 4  # padded
    assert len(dist.DistributedSampler(10, world=4, rank=0, drop_last=True)) == 2
    assert not np.array_equal(parts[0], shards[0].indices(3))  # a new order each epoch


def test_post_accumulate_hooks_fire_during_the_pass():
    events = []

    class Tap(cr.Function):  # records when the backward reaches the first layer
        @staticmethod
        def forward(ctx, a):
            return a.copy()

        @staticmethod
        def backward(ctx, g):
            events.append("first layer's backward")
            return g

    w1 = cr.Tensor(np.ones((3, 3)), requires_grad=True)
    w2 = cr.Tensor(np.ones((3, 3)), requires_grad=True)
    w2.register_post_accumulate_grad_hook(lambda p: events.append(f"w2 ready, grad sum {p.grad.numpy().sum():g}"))
    w1.register_post_accumulate_grad_hook(lambda p: events.append("w1 ready"))
    x = cr.Tensor(np.ones(3), requires_grad=True)
    ((Tap.apply(x) @ w1) @ w2).sum().backward()
    assert events == ["w2 ready, grad sum 27", "w1 ready", "first layer's backward"]  # w2 before the pass ended
    class FirstOnly(cr.Function):  # hands its second input no gradient, though it needs one
        @staticmethod
        def forward(ctx, a, b):
            return a * 2.0

        @staticmethod
        def backward(ctx, g):
            return g * 2.0, None

    fired = []
    w3 = cr.Tensor(np.ones(2), requires_grad=True)
    w3.register_post_accumulate_grad_hook(lambda p: fired.append(p.grad.numpy().tolist()))
    (FirstOnly.apply(w3, w3) * w3).sum().backward()  # three uses, two gradients: it still fires, once
    assert fired == [[4.0, 4.0]]
    with pytest.raises(RuntimeError, match="only leaves accumulate"):
        (w1 * 2).register_post_accumulate_grad_hook(print)


# -- several processes ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("n", [2, 4])
def test_n_ranks_train_the_weights_of_one_process(kind, n, tmp_path):
    proc, _ = run(n, kind, str(tmp_path / "w.npz"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = np.load(tmp_path / "w.npz")
    want = steps(kind).state_dict()  # one process, the whole global batch
    assert sorted(got.files) == sorted(want)
    start = model(kind).state_dict()
    moved = max(np.abs(want[k] - start[k]).max() for k in want)
    assert moved > 1e-3  # the steps changed the weights, so the comparison says something
    for k in want:  # float32: summing the batch in another grouping changes the last bits
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-6, err_msg=k)


@pytest.mark.parametrize("mode,words", [
    ("raise", ["rank 1 fails on purpose", "aborting all 2 ranks"]),
    ("kill", []),
    ("mismatch", ["the ranks built different models", "parameter 'weight' is (3, 4) float32 on rank 0 but rank 1 "
                  "has 'weight' (5, 4) float32"]),
    ("stall", ["waited 2 s for the other ranks' gradients", "aborting all ranks"]),
])  # fmt: skip
def test_a_failing_rank_stops_every_rank_without_hanging(mode, words, tmp_path):
    proc, seconds = run(2, mode, str(tmp_path / "unused"), timeout=90)
    assert proc.returncode != 0
    assert seconds < 60  # bounded: the rank that waits is ended (stall: by its 2 s timeout)
    for w in words:
        assert w in proc.stderr, (w, proc.stderr[-2000:])


def _train(tmp_path, name, n=None, extra=()):
    args = ["train", "--model", "mlp", "--data", "spiral", "--batch-size", "30", "--lr", "0.5", "--optimizer",
            "momentum", "--out", str(tmp_path / name), *extra]
    if n is None:  # one process, no MPI
        cmd = [sys.executable, "-m", "chainrule", *args]
    else:
        cmd = [mpiexec(), "-n", str(n), sys.executable, "-m", "chainrule", *args, "--distributed"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, {k: np.asarray(v) for k, v in cr.load(tmp_path / name / "weights.safetensors").items()}


def one_and_two_ranks(tmp_path: Path, args: list[str]) -> tuple[subprocess.CompletedProcess, dict, dict]:
    """``chainrule ARGS`` on one process and on two ranks (``--distributed``): rank 0's stdout of the
    second, and each run's weights; both runs must succeed."""
    exe = mpiexec()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "chainrule", *args, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=300, env=env, check=False)  # fmt: skip
    two = subprocess.run([exe, "-n", "2", sys.executable, "-m", "chainrule", *args, "--distributed", "--out",
                          str(tmp_path / "two")], capture_output=True, text=True, timeout=300, env=env, check=False)  # fmt: skip
    assert one.returncode == 0 and two.returncode == 0, (one.stderr[-1500:], two.stderr[-1500:])
    return two, cr.load(tmp_path / "one" / "weights.safetensors"), cr.load(tmp_path / "two" / "weights.safetensors")


def test_the_train_command_on_two_ranks(tmp_path):
    mpiexec()
    one, w1 = _train(tmp_path, "one", extra=["--epochs", "4"])
    two, w2 = _train(tmp_path, "two", 2, ["--epochs", "4"])
    assert two.count("epoch 4/4") == 1 and two.count("done: mlp on spiral") == 1  # rank 0 alone prints
    assert {p.name for p in (tmp_path / "two").iterdir()} == {p.name for p in (tmp_path / "one").iterdir()}
    for k in w1:  # 270 training points, global batch 30: the same steps as one process, up to float rounding
        np.testing.assert_allclose(w2[k], w1[k], rtol=1e-4, atol=1e-5, err_msg=k)
    # resume with another number of ranks: two epochs on two ranks, then to four on one
    _train(tmp_path, "split", 2, ["--epochs", "2"])
    out, w3 = _train(tmp_path, "split", 1, ["--epochs", "4", "--resume"])
    assert "resuming from epoch 2" in out
    for k in w1:
        np.testing.assert_allclose(w3[k], w1[k], rtol=1e-4, atol=1e-5, err_msg=k)


def test_distributed_on_one_process_trains_as_without_it(tmp_path):
    from chainrule.training import Config
    from chainrule.training import train_classifier as fit

    cfg = Config(model="mlp", epochs=2, batch_size=30, lr=0.5)
    a = fit(cfg, log=io.StringIO(), progress=False).model.state_dict()
    b = fit(cfg, log=io.StringIO(), progress=False, distributed=True).model.state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="compile and distributed do not combine"):
        fit(cfg, progress=False, compile=True, distributed=True)


def test_the_guide_mpiexec_command_runs(tmp_path):
    """The distributed guide's one-machine mpiexec line, as written (multi-host lines need other hosts)."""
    import re
    import shlex

    pytest.importorskip("sklearn", reason="the digits example needs scikit-learn (the data extra)")
    exe = mpiexec()
    guide = (Path(__file__).resolve().parent.parent / "docs" / "distributed.md").read_text()  # moved from README.md
    lines = [ln.strip() for block in re.findall(r"```sh\n(.*?)```", guide, flags=re.S) for ln in block.splitlines()
             if ln.strip().startswith("mpiexec -n ")]  # fmt: skip
    assert lines
    for line in lines:
        argv = shlex.split(line)
        argv[0] = exe
        argv = [str(Path(sys.executable).with_name("chainrule")) if a == ".venv/bin/chainrule" else a for a in argv]
        argv[argv.index("--out") + 1] = str(tmp_path / "run")
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.count("done: ") == 1 and (tmp_path / "run" / "weights.safetensors").exists()


# -- two hosts, simulated: two network namespaces on a bridge ---------------------------------

LAUNCHER = """#!/bin/sh
# stands in for ssh: LAUNCHER [options] HOST COMMAND... runs COMMAND inside the namespace of HOST,
# under a host name of its own (MPI tells machines apart by their names)
while [ $# -gt 0 ]; do case "$1" in -*) shift;; *) break;; esac; done
host="$1"; shift
ns=$(grep -w "$host" "$(dirname "$0")/hosts" | cut -d' ' -f2)
exec ip netns exec "$ns" unshare --uts sh -c "hostname $ns; $*"
"""


@pytest.fixture
def two_hosts(tmp_path):
    """Two 'hosts' (network namespaces with their own addresses, joined by a bridge) and an
    ssh stand-in that starts commands inside them; skips where namespaces cannot be made."""
    ip = shutil.which("ip")
    if os.geteuid() != 0 or ip is None:
        pytest.skip("simulating two hosts needs root and iproute2's ip (network namespaces)")
    tag = f"cr{os.getpid() % 10000}"
    subnet = f"10.{200 + os.getpid() % 50}.{os.getpid() % 250}"
    hosts = [f"{subnet}.2", f"{subnet}.3"]
    made: list[list[str]] = []

    def sh(*args: str) -> None:
        subprocess.run([ip, *args], check=True, capture_output=True, timeout=30)

    try:
        sh("link", "add", f"{tag}br", "type", "bridge")
        made.append(["link", "del", f"{tag}br"])
        sh("addr", "add", f"{subnet}.1/24", "dev", f"{tag}br")
        sh("link", "set", f"{tag}br", "up")
        for i, addr in enumerate(hosts):
            ns = f"{tag}h{i}"
            sh("netns", "add", ns)
            made.append(["netns", "del", ns])
            sh("link", "add", f"{tag}v{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            made.append(["link", "del", f"{tag}v{i}"])
            sh("link", "set", f"{tag}v{i}", "master", f"{tag}br")
            sh("link", "set", f"{tag}v{i}", "up")
            sh("netns", "exec", ns, "ip", "addr", "add", f"{addr}/24", "dev", "eth0")
            sh("netns", "exec", ns, "ip", "link", "set", "eth0", "up")
            sh("netns", "exec", ns, "ip", "link", "set", "lo", "up")
    except (subprocess.CalledProcessError, OSError) as e:
        for cmd in reversed(made):
            subprocess.run([ip, *cmd], capture_output=True, check=False)
        pytest.skip(f"network namespaces cannot be made here: {getattr(e, 'stderr', b'') or e}")
    (tmp_path / "hosts").write_text("".join(f"{a} {tag}h{i}\n" for i, a in enumerate(hosts)))
    launcher = tmp_path / "launcher"
    launcher.write_text(LAUNCHER)
    launcher.chmod(0o755)
    yield hosts, f"{subnet}.1", launcher, Path(f"/sys/class/net/{tag}v0/statistics/tx_bytes")
    for cmd in reversed(made):
        subprocess.run([ip, *cmd], capture_output=True, check=False)


def test_two_hosts_train_the_weights_of_one_process(two_hosts, tmp_path):
    hosts, here, launcher, wire = two_hosts
    before = int(wire.read_text())
    # UCX (MPICH's network layer) sees that both "hosts" are one machine and would share memory
    # behind the namespaces' backs; on TCP alone, the gradients must cross the bridge
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "UCX_TLS": "tcp,self"}
    cmd = [mpiexec(), "-launcher", "ssh", "-launcher-exec", str(launcher), "-localhost", here, "-hosts",
           ",".join(hosts), "-n", "2", sys.executable, str(WORKER), "mlp", str(tmp_path / "w.npz")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    gradients = sum(p.numel() * 4 for p in model("mlp").parameters()) * 3  # three steps' allreduces
    assert int(wire.read_text()) - before > gradients  # they crossed the simulated network
    got, want = np.load(tmp_path / "w.npz"), steps("mlp").state_dict()
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-6, err_msg=k)
