"""The distributed tests' helper modules (mnist_folder, dp_worker) import by name from this folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
