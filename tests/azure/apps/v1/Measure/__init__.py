from ..shared_code.shapes import Box


def main(box: Box) -> Box:
    return Box(box.side * box.side)
