"""Val mAP against wall time for a run card (docs/learning_curve.png), phases of an --init-from chain joined.

    python bench/plot_learning_curve.py data/checkpoints/pavenet_tiny_f3.json --png docs/learning_curve.png

A card written by `pavenet train --init-from ...` nests the card of the run its weights came from (`init_card`);
each phase is drawn in its own colour, its clock starting where the previous phase ended.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def phases(card: dict) -> list[dict]:
    """The chain of cards, first phase first."""
    chain = []
    while card is not None:
        chain.append(card)
        card = card.get("init_card")
    return chain[::-1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("card")
    p.add_argument("--png", default="docs/learning_curve.png")
    a = p.parse_args()
    chain = phases(json.loads(Path(a.card).read_text()))
    fig, ax = plt.subplots(figsize=(6, 3.2))
    offset = 0.0
    for i, c in enumerate(chain):
        steps, secs, maps = zip(*c["learning_curve"]) if c["learning_curve"] else ((), (), ())
        n_val = c["train_config"].get("val_videos")
        label = (f"phase {i + 1}: F = {c['config']['num_frames']}, {c['steps']} steps, "
                 f"val on {'all' if n_val is None else f'the first {n_val}'} videos")
        ax.plot([(offset + s) / 60 for s in secs], maps, "o-", label=label)
        print(f"phase {i + 1}: " + ", ".join(f"step {st} @ {(offset + s) / 60:.0f} min: {m:.1f}"
                                             for st, s, m in zip(steps, secs, maps)))
        offset += c["wall_time_s"]
    ax.set_xlabel("wall time (minutes)")
    ax.set_ylabel("val Total mAP")
    data = chain[-1]["data"]
    ax.set_title(f"{chain[-1]['config']['name']} on SynthTrack {data.get('preset', {}).get('name', '?')} val",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(a.png, dpi=110)
    print(f"written {a.png}")


if __name__ == "__main__":
    main()
