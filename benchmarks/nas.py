"""Architecture search on CPU: what a child costs, how good a cheap proxy is, the controller
against random search, and trial throughput with local workers and Ray.

Parts (``--parts``, all by default; each writes its key of ``benchmarks/results/nas.json`` and
keeps the others'):

- ``child-cost``: the issue's reference child: NASNet normal cells of 5 blocks and 13 operations,
  stride-2 convolutions between 3 stages, C = 16, one cell per stage, one epoch over 2,000
  images (batch 64), validation on 5,000 held-out images, one torch thread; two random cells.
  Also the step time of one child in the default memory layout against channels-last.
- ``proxy``: Spearman's rank correlation between the report's quick proxy (C = 4, 24 steps on
  2,000 images, 800 validation images) and a longer training of the same children (C = 4,
  ``--long-steps`` steps on 10,000 images, 5,000 validation images), over ``--archs``
  architectures drawn uniformly from the NASNet space.
- ``search``: controller against random search with the same trials and child budget (the quick
  proxy), ``--seeds`` seeds each: best and last-quarter mean reward.
- ``throughput``: the same 8-trial random search with 1 worker (in-process), 2 local worker
  processes and Ray (a local instance, 1 CPU per trial): children per minute, and the overhead
  beyond the trials' own time.
- ``pool``: a 12-trial random search in batches of 2 on 2 local workers, the workers kept for the
  whole search (``rlgen nas search``'s way) against fresh workers for every batch (what it did
  before ``executors.LocalPool``), alternated, ``--repeats`` times each: wall-clock and overhead
  per trial.

- ``gpu-throughput``: children per minute on one GPU for the issue's GPU child (C = 16, one cell
  per stage, normal cells and stride-2 convolutions, one epoch of batches of 64 over 10,000
  images, 5,000 validation images): a ``--gpu-trials``-trial random search with ``--device
  cuda`` and 1, 8 and 16 local workers sharing the GPU (the target: at least 100 per minute on
  an H200). Needs CUDA.

- ``signal``: how much of the children's validation accuracy their architecture predicts, over
  the finished children of existing searches (``--runs DIR ...``: every ``*/seed-*`` search
  under them, NASNet space, each child's accuracy whatever its reward): the accuracies' spread,
  the binomial sampling noise of one validation accuracy, and the 10-fold cross-validated R^2 of
  ridge regressions of accuracy on the architecture (one-hot decisions; per cell, the count of
  each operation and of concat combines), for a few ridge weights. No training.

Load on the machine (other processes) slows everything; the JSON records the load average::

    python benchmarks/nas.py                           # everything (about half an hour on 2 cores)
    python benchmarks/nas.py --parts proxy --archs 10  # one part
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from rlgen.executors import ExecutorOptions, map_jobs
from rlgen.files import write_json
from rlgen.nas import analysis
from rlgen.nas.command import SearchConfig, search
from rlgen.nas.search import ChildConfig, TrialJob, run_trial
from rlgen.nas.spaces import make_space
from rlgen.nas.store import TrialStore

RESULTS = Path(__file__).parent / "results" / "nas.json"
PARTS = ("child-cost", "proxy", "search", "throughput", "pool", "gpu-throughput", "signal")
QUICK = ChildConfig(filters=4, steps=24, train_images=2000, val_images=800)


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "load_average_1_5_15": list(os.getloadavg()),
    }


def job(space: Any, arch: tuple[int, ...], child: ChildConfig, trial: int) -> TrialJob:
    return TrialJob(trial, 0, space.spec, arch, "fashion-mnist", child, None, "cpu", latency=False)


# ---------------------------------------------------------------------------------------------
# What a child costs
# ---------------------------------------------------------------------------------------------


def child_cost() -> dict[str, Any]:
    torch.set_num_threads(1)
    space = make_space("nasnet", reduction_cell=False)
    child = ChildConfig(
        filters=16, cells=1, train_images=2000, val_images=5000, steps=32, batch_size=64
    )
    rng = np.random.default_rng(0)
    runs = []
    for i in range(2):
        arch = space.sample(rng)
        start = time.perf_counter()
        metrics = run_trial(job(space, arch, child, i))
        runs.append(
            {
                "wall_seconds": time.perf_counter() - start,
                "train_seconds": metrics["train_seconds"],
                "eval_seconds": metrics["eval_seconds"],
                "accuracy": metrics["accuracy"],
                "macs": metrics["macs"],
                "architecture": list(arch),
            }
        )
        print(f"child {i}: {runs[-1]['wall_seconds']:.1f} s, accuracy {metrics['accuracy']:.3f}")
    return {
        "child": dataclasses.asdict(child),
        "space": "nasnet, normal cells only (5 blocks, 13 operations), stride-2 convolutions",
        "reference_one_core_seconds": "80-90 (issue 10)",
        "runs": runs,
        "layout": layout_step_times(space, rng),
    }


def layout_step_times(space: Any, rng: np.random.Generator) -> dict[str, float]:
    """Seconds per SGD step of one C = 4 child (batch 64): default layout vs channels-last."""
    import torch.nn.functional as F

    from rlgen.nas.children import ChildShape, build_child

    arch = space.sample(rng)
    out = {}
    for name in ("contiguous", "channels_last"):
        torch.manual_seed(0)
        model: Any = build_child(space, arch, ChildShape(4, 1))
        if name == "channels_last":
            model = model.to(memory_format=torch.channels_last)
        x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step(model: Any = model, opt: Any = opt, x: Any = x, y: Any = y) -> None:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        for _ in range(2):
            step()
        start = time.perf_counter()
        for _ in range(10):
            step()
        out[name] = (time.perf_counter() - start) / 10
    return out


# ---------------------------------------------------------------------------------------------
# Proxy and its rank agreement with longer training
# ---------------------------------------------------------------------------------------------


def proxy(archs: int, long_steps: int) -> dict[str, Any]:
    from scipy import stats

    space = make_space("nasnet")
    rng = np.random.default_rng(1)
    chosen = [space.sample(rng) for _ in range(archs)]
    long = ChildConfig(filters=4, steps=long_steps, train_images=10_000, val_images=5000)
    out: dict[str, Any] = {"archs": archs, "proxy": dataclasses.asdict(QUICK)}
    out["long"] = dataclasses.asdict(long)
    scores: dict[str, list[float]] = {}
    for name, child in (("proxy", QUICK), ("long", long)):
        jobs = [job(space, a, child, i) for i, a in enumerate(chosen)]
        start = time.perf_counter()
        results = map_jobs(run_trial, jobs, ExecutorOptions(workers=2), desc=name)
        out[f"{name}_wall_seconds"] = time.perf_counter() - start
        out[f"{name}_mean_train_seconds"] = float(np.mean([r["train_seconds"] for r in results]))
        scores[name] = [r["accuracy"] for r in results]
        print(f"{name}: {out[f'{name}_wall_seconds']:.0f} s for {archs} children")
    rho, p = stats.spearmanr(scores["proxy"], scores["long"])
    out |= {"spearman": float(rho), "spearman_p": float(p), "accuracy": scores}
    top = max(1, archs // 4)
    best_long = set(np.argsort(scores["long"])[-top:].tolist())
    best_proxy = set(np.argsort(scores["proxy"])[-top:].tolist())
    out["top_quarter_overlap"] = len(best_long & best_proxy) / top
    print(f"Spearman {rho:.3f} (p = {p:.3g})")
    return out


# ---------------------------------------------------------------------------------------------
# Controller against random search
# ---------------------------------------------------------------------------------------------


def search_job(job: tuple[SearchConfig, str]) -> dict[str, Any]:
    config, run_dir = job
    return search(config, run_dir, quiet=True)


def controller_vs_random(seeds: int, trials: int, batch: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [
            (
                SearchConfig(
                    controller=controller,
                    trials=trials,
                    batch=batch,
                    seed=s,
                    device="cpu",
                    child=QUICK,
                    jobs=ExecutorOptions(workers=1),
                ),
                str(Path(tmp) / f"{controller}-{s}"),
            )
            for s in range(seeds)
            for controller in ("reinforce", "random")
        ]
        start = time.perf_counter()
        summaries = map_jobs(search_job, jobs, ExecutorOptions(workers=2), desc="searches")
        wall = time.perf_counter() - start
    out: dict[str, Any] = {"seeds": seeds, "trials": trials, "batch": batch, "wall_seconds": wall}
    for controller in ("reinforce", "random"):
        mine = [s for s in summaries if s["controller"] == controller]
        best = [s["best_reward"] for s in mine]
        last = [s["last_quarter_mean_reward"] for s in mine]
        out[controller] = {
            "best_reward": best,
            "last_quarter_mean_reward": last,
            "mean_best": float(np.mean(best)),
            "mean_last_quarter": float(np.mean(last)),
            "failed": [s["failed"] for s in mine],
        }
    diff = np.array(out["reinforce"]["last_quarter_mean_reward"]) - np.array(
        out["random"]["last_quarter_mean_reward"]
    )
    out["last_quarter_difference"] = diff.tolist()
    print(
        f"last-quarter mean: controller {out['reinforce']['mean_last_quarter']:.3f}, random "
        f"{out['random']['mean_last_quarter']:.3f}"
    )
    return out


# ---------------------------------------------------------------------------------------------
# Throughput: 1 and 2 local workers, Ray
# ---------------------------------------------------------------------------------------------


def throughput(trials: int) -> dict[str, Any]:
    options = {
        "1 worker (in-process)": ExecutorOptions(workers=1),
        "2 local workers": ExecutorOptions(workers=2),
        "ray, 1 CPU per trial": ExecutorOptions(executor="ray", cpus_per_job=1.0),
    }
    out: dict[str, Any] = {"trials": trials, "child": dataclasses.asdict(QUICK)}
    for name, option in options.items():
        if option.executor == "ray":
            try:
                import ray
            except ImportError:
                out[name] = {"skipped": "ray is not installed"}
                continue
            start = time.perf_counter()
            ray.init(include_dashboard=False, log_to_driver=False)
            out["ray_init_seconds"] = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            config = SearchConfig(
                controller="random",
                trials=trials,
                batch=trials,
                device="cpu",
                child=QUICK,
                jobs=option,
            )
            summary = search(config, Path(tmp) / "run", quiet=True)
            with TrialStore.reader(Path(tmp) / "run") as store:
                seconds = [t.seconds or 0.0 for t in store.trials()]
        workers = option.local_workers(trials) if option.executor == "local" else 2
        wall = summary["wall_seconds"]
        ideal = sum(seconds) / workers
        out[name] = {
            "workers": workers,
            "wall_seconds": wall,
            "children_per_minute": 60 * trials / wall,
            "mean_trial_seconds": float(np.mean(seconds)),
            "overhead_per_trial_seconds": (wall - ideal) / trials,
            "overhead_share_of_trial": (wall - ideal) / trials / float(np.mean(seconds)),
        }
        print(f"{name}: {60 * trials / wall:.1f} children/min")
    return out


GPU_CHILD = ChildConfig(filters=16, cells=1, train_images=10_000, val_images=5000, steps=157)
"""the issue's GPU child: one epoch of batches of 64 over 10,000 images"""
GPU_DEVICE: Literal["cpu", "cuda"] = "cuda"


def gpu_throughput(trials: int, workers: tuple[int, ...] = (1, 8, 16)) -> dict[str, Any]:
    if GPU_DEVICE == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--parts gpu-throughput needs a CUDA GPU")
    out: dict[str, Any] = {
        "trials": trials,
        "child": dataclasses.asdict(GPU_CHILD),
        "gpu": torch.cuda.get_device_name() if GPU_DEVICE == "cuda" else None,
    }
    for count in workers:
        with tempfile.TemporaryDirectory() as tmp:
            config = SearchConfig(
                controller="random",
                trials=trials,
                batch=trials,
                device=GPU_DEVICE,
                reduction_cell=False,
                child=GPU_CHILD,
                jobs=ExecutorOptions(workers=count),
            )
            summary = search(config, Path(tmp) / "run", quiet=True)
            with TrialStore.reader(Path(tmp) / "run") as store:
                done = [t for t in store.trials() if t.status == "finished"]
        wall = summary["wall_seconds"]
        out[f"{count} workers"] = {
            "wall_seconds": wall,
            "finished": len(done),
            "children_per_minute": 60 * len(done) / wall,
            "median_trial_seconds": float(np.median([t.seconds or 0.0 for t in done])),
            "mean_accuracy": float(np.mean([t.metrics.get("accuracy", 0.0) for t in done])),
        }
        print(f"{count} workers: {60 * len(done) / wall:.1f} children/min", flush=True)
    return out


def architecture_signal(roots: list[Path]) -> dict[str, Any]:
    space = make_space("nasnet")
    archs, accuracy, val_images = [], [], set()
    searches = sorted(p.parent for root in roots for p in root.glob("*/seed-*/trials.sqlite"))
    for run_dir in searches:
        config = json.loads((run_dir / "config.json").read_text())["config"]
        if config["space"] != "nasnet" or not config.get("reduction_cell", True):
            continue
        val_images.add(config["child"]["val_images"])
        with TrialStore.reader(run_dir) as store:
            for t in store.trials():
                if t.status == "finished" and t.accuracy is not None:
                    archs.append(t.architecture)
                    accuracy.append(t.accuracy)
    if len(archs) < 50:
        raise SystemExit(f"--runs: {len(archs)} finished NASNet children, need at least 50")
    measured = analysis.architecture_signal(space, archs, accuracy, min(val_images))
    return {"runs": [str(root) for root in roots], "searches": [str(d) for d in searches]} | (
        measured
    )


def pool_effect(trials: int, repeats: int) -> dict[str, Any]:
    """Workers kept across the search's batches against fresh workers for every batch."""
    import rlgen.nas.search as search_module

    kept_stream = search_module.stream_jobs

    def fresh_stream(*args: Any, pool: Any = None, **kwargs: Any) -> Any:
        return kept_stream(*args, **kwargs)  # no pool: a new set of workers per batch

    rows: dict[str, list[dict[str, float]]] = {"kept": [], "fresh per batch": []}
    for _ in range(repeats):
        for name in rows:
            search_module.stream_jobs = kept_stream if name == "kept" else fresh_stream
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    config = SearchConfig(
                        controller="random",
                        trials=trials,
                        batch=2,
                        device="cpu",
                        child=QUICK,
                        jobs=ExecutorOptions(workers=2),
                    )
                    summary = search(config, Path(tmp) / "run", quiet=True)
                    with TrialStore.reader(Path(tmp) / "run") as store:
                        seconds = [t.seconds or 0.0 for t in store.trials()]
            finally:
                search_module.stream_jobs = kept_stream
            wall = summary["wall_seconds"]
            overhead = (wall - sum(seconds) / 2) / trials
            rows[name].append({"wall_seconds": wall, "overhead_per_trial_seconds": overhead})
            print(f"{name}: {wall:.1f} s, overhead {overhead:.2f} s per trial")
    out: dict[str, Any] = {"trials": trials, "batch": 2, "workers": 2, "repeats": repeats}
    for name, runs in rows.items():
        out[name] = {
            "median_wall_seconds": float(np.median([r["wall_seconds"] for r in runs])),
            "median_overhead_per_trial_seconds": float(
                np.median([r["overhead_per_trial_seconds"] for r in runs])
            ),
            "runs": runs,
        }
    out["wall_ratio_kept_to_fresh"] = (
        out["kept"]["median_wall_seconds"] / out["fresh per batch"]["median_wall_seconds"]
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--archs", type=int, default=20)
    parser.add_argument("--long-steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="pool: runs of each variant")
    parser.add_argument("--gpu-trials", type=int, default=48, help="gpu-throughput: trials")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the JSON file to update")
    parser.add_argument(
        "--runs", type=Path, nargs="+", help="signal: folders of searches (*/seed-*)"
    )
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.is_file() else {"benchmark": "nas"}
    for part in args.parts:
        start = time.perf_counter()
        if part == "child-cost":
            value = child_cost()
        elif part == "proxy":
            value = proxy(args.archs, args.long_steps)
        elif part == "search":
            value = controller_vs_random(args.seeds, args.trials, args.batch)
        elif part == "pool":
            value = pool_effect(12, args.repeats)
        elif part == "gpu-throughput":
            value = gpu_throughput(args.gpu_trials)
        elif part == "signal":
            if args.runs is None:
                raise SystemExit("--parts signal needs --runs DIR")
            value = architecture_signal(args.runs)
        else:
            value = throughput(8)
        value["machine"] = machine()
        value["seconds"] = time.perf_counter() - start
        value["command"] = "python benchmarks/nas.py --parts " + part
        if part == "signal":
            value["command"] += " --runs " + " ".join(map(str, args.runs))
        results[part] = value
        write_json(args.out, results)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
