"""Checks for the exercises of the appendix on Gaussian integrals."""

from .. import gaussian
from ._feedback import Feedback, check_number

__all__ = ["check_relu_kernel_at_zero", "check_erf_second_moment"]


def check_relu_kernel_at_zero(answer) -> Feedback:
    """E[relu(u1) relu(u2)] for independent standard normals u1, u2 (c = 0, q = 1)."""
    return check_number("E[relu(u1) relu(u2)] at c = 0", answer, gaussian.kernel("relu", 1, 1, 0),
                        rtol=1e-6, hint="independence: it is the square of E[relu(z)].")


def check_erf_second_moment(answer) -> Feedback:
    """E[erf(z)^2] for z ~ N(0, 1)."""
    return check_number("E[erf(z)^2]", answer, gaussian.second_moment("erf", 1.0), rtol=1e-6,
                        hint="set q = 1 in (2/pi) arcsin(2q / (1 + 2q)).")
