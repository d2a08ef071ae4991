def main(timer) -> None:
    pass
