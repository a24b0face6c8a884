"""Quality gates: Great Expectations checkpoints where data crosses a boundary."""

from cdp.quality.gates import GateFailed, GateResult, run_checkpoint
from cdp.quality.payload import check_payload, read_consent

__all__ = ["GateFailed", "GateResult", "check_payload", "read_consent", "run_checkpoint"]
