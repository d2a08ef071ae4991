"""Code shared by the v1 functions (imported relatively, as on Azure)."""


def greeting(city: str) -> str:
    return f"Hello {city}!"
