"""Inference backends behind the engine facade: eager PyTorch (the reference) and ExecuTorch."""
