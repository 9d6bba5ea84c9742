"""Reading deployment values from the environment.

django-environ does the parsing (URLs, lists, ``*_FILE`` secrets). On top of it this
module only makes booleans and integers strict: ``DEBUG=ture`` must stop the process
with a clear message rather than quietly mean False.
"""

from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class StrictEnv(environ.FileAwareEnv):
    """FileAwareEnv whose bool and int refuse malformed values."""

    def bool(self, var: str, default: Any = environ.Env.NOTSET) -> bool:  # type: ignore[override]
        # cast=str: django-environ would otherwise cast by the default's type, and bool("ture")
        # is quietly False.
        value = self.get_value(var, cast=str, default=default)
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ImproperlyConfigured(f"{var} must be true or false, got {value!r}.")

    def int(self, var: str, default: Any = environ.Env.NOTSET) -> int:  # type: ignore[override]
        value = self.get_value(var, cast=str, default=default)
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise ImproperlyConfigured(f"{var} must be an integer, got {value!r}.") from None


env = StrictEnv()
