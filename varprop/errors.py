"""The one exception the numeric core raises for bad input."""


class VarpropError(ValueError):
    """Bad input to the core: says what failed, with which value, and what is allowed.

    ``param`` names the command-line option the value came from (``"--act"``), so the
    CLI can turn it into a usage error that points at the right option.
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param
