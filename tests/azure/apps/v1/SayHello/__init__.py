from ..shared_code.greetings import greeting


def main(name: str) -> str:
    return greeting(name)
