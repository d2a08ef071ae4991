"""A class with to_json/from_json, as in the SDK's serialize_arguments sample."""


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    @staticmethod
    def to_json(obj: "Point") -> str:
        return f"{obj.x},{obj.y}"

    @staticmethod
    def from_json(text: str) -> "Point":
        x, y = text.split(",")
        return Point(int(x), int(y))
