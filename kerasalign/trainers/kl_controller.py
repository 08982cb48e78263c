"""`KLController`: the KL penalty coefficient of RLHF, fixed or adaptive.

Examples:

>>> controller = KLController(0.1, target=6.0, horizon=10000)
>>> round(controller.update(current_kl=12.0, steps=1000), 6)  # KL too high: raise it
0.102
"""

from kerasalign.errors import KerasAlignError


class KLController:
    """Holds `kl_coef`; adapts it towards a target KL when one is given.

    The adaptive rule is Ziegler et al. (2019, section 2.2):
    `e = clip(KL / target - 1, -0.2, 0.2)`,
    `kl_coef <- kl_coef (1 + e steps / horizon)`,
    where `KL` is the mean per-response KL of the last rollout batch and
    `steps` the number of responses in it.

    Args:
        initial: float. The starting coefficient (>= 0).
        target: float or `None`. Target per-response KL (> 0); `None` keeps
            the coefficient fixed. Defaults to `None`.
        horizon: float. How slowly the coefficient adapts, in responses.
            Defaults to 10000.
    """

    def __init__(self, initial, target=None, horizon=10000):
        if isinstance(initial, bool) or not isinstance(initial, (int, float)) or initial < 0:
            raise KerasAlignError(
                f"kl_coef must be a number >= 0. Received: kl_coef={initial!r}"
            )
        if target is not None and (
            isinstance(target, bool) or not isinstance(target, (int, float)) or target <= 0
        ):
            raise KerasAlignError(
                f"target_kl must be a positive number or None. Received: target_kl={target!r}"
            )
        if isinstance(horizon, bool) or not isinstance(horizon, (int, float)) or horizon <= 0:
            raise KerasAlignError(
                f"kl_horizon must be a positive number. Received: kl_horizon={horizon!r}"
            )
        self.initial = float(initial)
        self.target = None if target is None else float(target)
        self.horizon = float(horizon)
        self.value = self.initial

    @property
    def adaptive(self):
        """Whether the coefficient adapts to a target KL."""
        return self.target is not None

    def update(self, current_kl, steps):
        """Adapt the coefficient after a rollout batch; returns the new value.

        Args:
            current_kl: float. Mean per-response KL of the batch.
            steps: int. Responses in the batch.
        """
        if self.adaptive:
            error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
            self.value *= 1.0 + error * steps / self.horizon
        return self.value

    def get_config(self):
        return {"initial": self.initial, "target": self.target, "horizon": self.horizon}
