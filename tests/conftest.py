import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the `nodes` package is imported from the repository root
    sys.path.insert(0, str(ROOT))

# An OMP_NUM_THREADS given on the command line wins: on a busy machine, threads of tiny test tensors mostly
# wait for each other.
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or min(2, os.cpu_count() or 1)))

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def data_dir() -> Path:
    return DATA
