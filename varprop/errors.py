"""The one exception the numeric core raises for bad input, and the checks it shares."""

from numbers import Integral


class VarpropError(ValueError):
    """Bad input to the core: says what failed, with which value, and what is allowed.

    ``param`` names the command-line option the value came from (``"--act"``), so the
    CLI can turn it into a usage error that points at the right option.
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def is_count(value) -> bool:
    """An integer >= 1 (numpy's included; not a bool, not a float that happens to be whole)."""
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= 1
