"""``strategy: multi_worker`` for real: two worker processes on this machine train together
(MultiWorkerMirroredStrategy, collective all-reduce over gRPC on 127.0.0.1).

Worker 0 is the chief and writes the run folder; worker 1 writes only its private folder
``workers/worker-1`` (:func:`galaxy_lib.model.strategy.worker_folder`). The workers are
subprocesses with a deadline: when one fails or the time runs out both are killed, so a broken
collective never leaves a worker waiting for its peer after the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import galaxy_lib
from galaxy_lib.config import load_config
from galaxy_lib.model.runs import RunFolder
from galaxy_lib.synth import sky

DEADLINE_SECONDS = 300
"""Both workers together, from start to exit (well under a minute on 2 busy cores, most of it
importing TensorFlow twice)."""


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free on 127.0.0.1 now (all bound at once, so never the same one twice)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(n)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def run_workers(root: Path, args: list[str], n: int = 2, timeout: float = DEADLINE_SECONDS) -> list[str]:
    """Run ``python ARGS`` as ``n`` workers of one cluster on 127.0.0.1 (``TF_CONFIG``), with
    ``root`` as the project root (``GALAXY_LIB_ROOT``, also the working folder); return each
    worker's output. Fails the test, after killing every worker still alive, as soon as one
    exits non-zero or ``timeout`` seconds have passed."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(n)]}
    source = str(Path(galaxy_lib.__file__).resolve().parents[1])  # the package under test, wherever root is
    env = {
        **os.environ, "GALAXY_LIB_ROOT": str(root), "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")])),
    }
    for key in ("http_proxy", "https_proxy", "grpc_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(key, None)  # gRPC would send even 127.0.0.1 through a proxy
    logs = [root / f"worker-{index}.log" for index in range(n)]
    procs: list[subprocess.Popen] = []
    try:
        for index, log in enumerate(logs):
            task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
            with open(log, "w") as stream:  # a file, not a pipe: a full pipe would stall a worker
                procs.append(subprocess.Popen(
                    [sys.executable, *args], cwd=root, stdout=stream, stderr=subprocess.STDOUT,
                    env={**env, "TF_CONFIG": json.dumps(task)},
                ))
        deadline = time.monotonic() + timeout
        while None in (codes := [p.poll() for p in procs]):  # every one polled (no short-circuit)
            if any(code not in (None, 0) for code in codes) or time.monotonic() > deadline:
                break  # a worker failed (its peers would wait for it) or time is up
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)
    outputs = [log.read_text() for log in logs]
    report = "\n".join(f"--- worker {i}: exit {p.returncode}\n{out[-3000:]}" for i, (p, out) in
                       enumerate(zip(procs, outputs, strict=True)))
    assert all(p.returncode == 0 for p in procs), f"a worker failed or ran past {timeout:.0f} s:\n{report}"
    return outputs


@pytest.fixture(scope="module")
def generated_smoke_sky(tmp_path_factory, repo_root) -> tuple[Path, str]:
    """The smoke configuration's synthetic sky, generated once for the module: ``(folder, its data path)``."""
    config = load_config(repo_root / "parameters" / "smoke.yaml")
    folder = sky.generate(tmp_path_factory.mktemp("smoke-sky") / "sky", n=config.synthetic_n,
                          seed=config.synthetic_seed, progress=False, workers=1)
    return folder, config.data


@pytest.fixture
def smoke_sky(generated_smoke_sky, tmp_path) -> Path:
    """A copy of the module's smoke sky at ``tmp_path/<its data>``, put there before the workers
    start: two workers finding it missing would both generate it at the same time."""
    folder, data = generated_smoke_sky
    return Path(shutil.copytree(folder, tmp_path / data))


def test_free_ports_are_distinct_and_bindable():
    ports = free_ports(3)
    assert len(set(ports)) == 3
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", port))


@pytest.mark.slow  # two Python processes and their deadline
def test_a_failing_worker_stops_its_peer_and_fails_the_test(tmp_path):
    """Worker 1 exits 3 at once; worker 0 would wait for ten minutes: the runner must kill it and fail fast."""
    script = "import json, os, sys, time\nif json.loads(os.environ['TF_CONFIG'])['task']['index']: sys.exit(3)\n" \
             "time.sleep(600)\n"
    started = time.monotonic()
    with pytest.raises(AssertionError, match="worker 1: exit 3"):
        run_workers(tmp_path, ["-c", script], timeout=60)
    assert time.monotonic() - started < 30


SHARD_SCRIPT = textwrap.dedent("""
    # Which galaxies each worker reads, batch by batch, through the pipeline and strategy.for_strategy.
    import json, sys
    import numpy as np
    from galaxy_lib.tf_setup import import_tensorflow
    tf = import_tensorflow()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # before TensorFlow's runtime starts
    from galaxy_lib import tree
    from galaxy_lib.config import load_config
    from galaxy_lib.data import dataset, pipeline
    from galaxy_lib.model.strategy import for_strategy
    data = dataset.load_for_config(load_config(sys.argv[1]))
    n, batch = 21, 8  # a short last batch (5), split 3 + 2
    rows = np.repeat(np.arange(n, dtype=np.float32)[:, None], tree.N_ANSWERS, axis=1)  # label = row number
    ds = pipeline.make_dataset(data.images, data.ids[:n], rows, crop=128, image_size=32, batch_size=batch,
                               shuffle=True, seed=4)
    seen = []
    for _, y in strategy.experimental_distribute_dataset(for_strategy(ds, n, batch, strategy)):
        seen.append([int(v) for part in strategy.experimental_local_results(y) for v in part[:, 0].numpy()])
    print("SEEN " + json.dumps(seen))
""")


@pytest.mark.slow
def test_each_worker_reads_its_own_part_of_every_batch(smoke_sky, tmp_path, repo_root):
    outputs = run_workers(tmp_path, ["-c", SHARD_SCRIPT, str(repo_root / "parameters" / "smoke.yaml")])
    seen = [json.loads(next(line for line in out.splitlines() if line.startswith("SEEN "))[5:]) for out in outputs]
    assert len(seen[0]) == len(seen[1]) == 3  # the same number of steps on both: no worker waits for the other
    for first, second in zip(*seen, strict=True):
        assert first and second and not set(first) & set(second)
    assert sorted(v for worker in seen for batch in worker for v in batch) == list(range(21))  # each galaxy once


@pytest.mark.slow
def test_two_workers_train_the_smoke_configuration_together(smoke_sky, tmp_path, repo_root):
    outputs = run_workers(tmp_path, [
        "-m", "galaxy_lib", "train", "-f", str(repo_root / "parameters" / "smoke.yaml"), "--out", "runs/multi",
        "--set", "strategy=multi_worker", "--set", "epochs=2",
    ])

    chief = RunFolder(tmp_path / "runs" / "multi")
    history = chief.read_history()
    assert history["epoch"].tolist() == [1, 2]
    assert np.isfinite(history[["loss", "rmse", "val_rmse"]].to_numpy()).all()
    environment = json.loads(chief.environment_file.read_text())
    assert environment["replicas"] == 2 and environment["strategy"] in (
        "MultiWorkerMirroredStrategy", "CollectiveAllReduceStrategy")  # the class's name differs between versions
    assert chief.read_state().finished == "reached 2 epochs"
    for which in ("best", "last"):
        assert chief.model_file(which).is_file()

    # Worker 1 wrote its own private folder and nothing else (no second sky, no stray files).
    assert sorted(p.name for p in chief.workers_dir.iterdir()) == ["worker-1"]
    assert {p.name for p in chief.path.iterdir()} >= {
        RunFolder.CONFIG, RunFolder.SPLIT, RunFolder.HISTORY, RunFolder.ENVIRONMENT, RunFolder.RESUME,
        RunFolder.WORKERS, chief.model_name("best"), chief.model_name("last"),
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "runs", "worker-0.log", "worker-1.log"]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["multi"]

    # One synchronous training: the same split, and the same all-reduced scores on both workers.
    worker = chief.worker("worker", 1)
    pd.testing.assert_frame_equal(worker.load_split(), chief.load_split())
    mine = worker.read_history()
    assert mine["epoch"].tolist() == [1, 2]
    np.testing.assert_allclose(mine[["loss", "val_rmse"]], history[["loss", "val_rmse"]], rtol=1e-6)
    for out in outputs:
        assert "Strategy x2" in out and "finished: reached 2 epochs" in out
