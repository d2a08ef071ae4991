"""A class with to_json/from_json (the v1 serialize_arguments pattern)."""


class Box:
    def __init__(self, side: int) -> None:
        self.side = side

    @staticmethod
    def to_json(obj: "Box") -> str:
        return str(obj.side)

    @staticmethod
    def from_json(text: str) -> "Box":
        return Box(int(text))
