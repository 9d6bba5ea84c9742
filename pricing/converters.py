"""URL converters: a SKU in a path is what the API accepts as a SKU, nothing else."""


class SkuConverter:
    regex = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
