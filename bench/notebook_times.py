"""Run the course notebooks, time each one, and optionally save their outputs.

Each notebook runs in a fresh kernel from `notebooks/` (as a student runs it), with one thread. The time is the
wall-clock time of the whole run, kernel start included, and the CPU time (user + system) of the kernel process
tree, which depends less on other jobs sharing the machine.

    python bench/notebook_times.py --mode fast                    # time every notebook, print the table
    python bench/notebook_times.py --mode full --store            # ... and record it in docs/notebook_times.json
    python bench/notebook_times.py --mode fast --save 02 07       # re-execute 02 and 07 and save their outputs

`--store` merges the times into `docs/notebook_times.json` (other modes and notebooks not run keep theirs), which
the course map
(`notebooks/index.ipynb`) prints. `--save` writes the executed notebooks back with clean metadata (no execution
timestamps, the kernel's own name), so that JupyterLab opens them unchanged; CI compares stored outputs in fast mode,
so save with `--mode fast`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
STORE = REPO / "docs" / "notebook_times.json"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def notebook_paths(prefixes: list[str]) -> list[Path]:
    """The notebooks whose names start with one of `prefixes` (all of them when empty), index last."""
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) + [NOTEBOOKS / "index.ipynb"]
    if not prefixes:
        return paths
    chosen = [p for p in paths if any(p.stem.startswith(x) for x in prefixes)]
    unknown = [x for x in prefixes if not any(p.stem.startswith(x) for p in paths)]
    if unknown:
        raise SystemExit(f"no notebook in {NOTEBOOKS} starts with {unknown}; have {[p.stem for p in paths]}")
    return chosen


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop what changes on every run (timestamps), name the kernel by its spec, keep outputs and tags.

    `language_info` stays as the kernel reported it, Python version included: JupyterLab writes the running
    kernel's version there on opening, so a notebook without it (or with another one) opens marked as changed.
    """
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    return nb


# Run last in the kernel: its own CPU time plus that of the processes it waited for (data workers).
_CPU_PROBE = ("import resource\n"
              "print(sum(getattr(resource.getrusage(w), f) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)"
              " for f in ('ru_utime', 'ru_stime')))")


def run_notebook(path: Path, timeout: int) -> tuple[nbformat.NotebookNode, float, float]:
    """Execute `path` in a fresh kernel; returns the executed notebook, wall seconds and kernel CPU seconds."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(_CPU_PROBE))
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
                   ).execute()
    wall = time.perf_counter() - start
    probe = nb.cells.pop()
    cpu = float(probe.outputs[0]["text"])
    return nb, wall, cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="name prefixes, e.g. 02 index (default: all)")
    parser.add_argument("--mode", choices=("fast", "full"), required=True, help="fast = PAVENET_FAST=1, as CI")
    parser.add_argument("--store", action="store_true", help=f"record the times in {STORE.relative_to(REPO)}")
    parser.add_argument("--save", action="store_true", help="write the executed notebooks back")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)

    # The kernel inherits the environment: one thread, and PAVENET_FAST exactly as the mode says.
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.pop("PAVENET_FAST", None)
    if args.mode == "fast":
        os.environ["PAVENET_FAST"] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))

    for path in notebook_paths(args.notebooks):
        nb, wall, cpu = run_notebook(path, args.timeout)
        print(f"{path.stem:28s} {wall:7.1f} s wall {cpu:7.1f} s CPU", flush=True)
        if args.save:
            nbformat.write(clean(nb), path)
        if args.store:   # after each notebook, so that a failure later keeps what was measured
            store(args.mode, path.stem, wall, cpu)
    if args.store:
        print("stored in", STORE.relative_to(REPO))


def store(mode: str, name: str, wall: float, cpu: float) -> None:
    """Merge one notebook's times into STORE (other notebooks and the other mode keep theirs)."""
    record = json.loads(STORE.read_text()) if STORE.is_file() else {}
    notebooks = record.get(mode, {}).get("notebooks", {})
    notebooks[name] = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}
    record[mode] = {"date": date.today().isoformat(), "machine": f"{os.cpu_count()}-core {platform.machine()} CPU, "
                    f"load average {os.getloadavg()[0]:.1f}", "threads": 1, "python": sys.version.split()[0],
                    "notebooks": dict(sorted(notebooks.items()))}
    STORE.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
