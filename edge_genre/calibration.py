"""Calibrated confidence: a temperature fitted at export time, stored in the model file.

A network trained with cross-entropy is overconfident on music it has never heard. Temperature
scaling divides its logits by ``T`` (> 1 softens); on probabilities ``p`` that is
``p ** (1 / T)`` renormalised, which is what :func:`temper` computes, after flooring ``p`` at half
an int8 output step (:data:`PROBABILITY_FLOOR`) so that int8 and float models are tempered alike
and a saturated int8 output can still soften.

The same map is applied to one window's probabilities and to an aggregate (the mean of a clip's
windows, or of ``listen``'s smoothing windows) of the *uncalibrated* probabilities, so tempering
never changes which genre wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ModelError

PROBABILITY_FLOOR = 2.0 ** -9  # half the step of an int8 softmax output (scale 1/256)
TEMPERATURE_RANGE = (0.05, 20.0)


def temper(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities ``probs`` (last axis sums to 1) tempered by ``temperature``; 1 leaves them as they are."""
    probs = np.asarray(probs, dtype=np.float64)
    if temperature == 1.0:
        return probs.astype(np.float32)
    logp = np.log(np.maximum(probs, PROBABILITY_FLOOR)) / temperature
    logp -= logp.max(axis=-1, keepdims=True)
    out = np.exp(logp)
    return (out / out.sum(axis=-1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class Calibration:
    """How a model's probabilities are calibrated (the ``calibration`` entry of its metadata).

    Attributes
    ----------
    temperature : float
        Applied by :func:`temper`; 1.0 means uncalibrated.
    fitted_on : str
        What the temperature was fitted on (for ``info`` and the model card).
    """

    temperature: float = 1.0
    fitted_on: str = "not calibrated"

    @classmethod
    def from_metadata(cls, entry: Any) -> "Calibration":
        if entry is None:
            return cls()
        if not isinstance(entry, dict):
            raise ModelError("calibration metadata must be an object")
        t = entry.get("temperature")
        if not isinstance(t, (int, float)) or isinstance(t, bool) or not TEMPERATURE_RANGE[0] <= t <= TEMPERATURE_RANGE[1]:
            raise ModelError(f"calibration temperature must be a number in {list(TEMPERATURE_RANGE)}, got {t!r}")
        return cls(float(t), str(entry.get("fitted_on", "")))

    def apply(self, probs: np.ndarray) -> np.ndarray:
        return temper(probs, self.temperature)
