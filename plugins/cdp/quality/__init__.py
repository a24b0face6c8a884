"""Quality gates: Great Expectations checkpoints where data crosses a boundary."""

from cdp.quality.gates import GateFailed, GateResult, run_checkpoint

__all__ = ["GateFailed", "GateResult", "run_checkpoint"]
