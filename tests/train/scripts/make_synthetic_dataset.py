"""Write a numpy-only synthetic prepared dataset plus a tiny training config (for GPU machines without espeak-ng).

usage: make_synthetic_dataset.py OUT_DIR [N_ITEMS]   -> OUT_DIR/data/ and OUT_DIR/train.yaml
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.helpers.configs import fast_config  # noqa: E402
from tests.helpers.datasets import write_synthetic_dataset  # noqa: E402

out = Path(sys.argv[1])
n_items = int(sys.argv[2]) if len(sys.argv) > 2 else 40
write_synthetic_dataset(out / "data", fast_config(), n_items=n_items)
cfg = fast_config(
    max_steps=40, batch_size=8, lr=2e-3, checkpoint_every=20, eval_every=20, log_every=5, n_val_synth=1
)
cfg.model.n_frames_per_step = 2
cfg.save(out / "train.yaml")
