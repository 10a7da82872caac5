"""The ONNX tests' helper modules (onnx_helpers, onnx_segnets) import by name from this folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
