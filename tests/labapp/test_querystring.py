import pytest

from rampart.interpretation import DEFAULT_LIMITS
from rampart.labapp.querystring import parse_query


@pytest.mark.parametrize(
    ("query", "parsed"),
    [
        ("category=books", {"category": "books"}),
        ("category=", {"category": ""}),
        ("category[$ne]=x", {"category": {"$ne": "x"}}),
        ("category%5B%24ne%5D=x", {"category": {"$ne": "x"}}),
        ("category=%7B%22%24ne%22%3A%22x%22%7D", {"category": {"$ne": "x"}}),
        ("category={bad json", {"category": "{bad json"}),
        ("category[$in][]=a&category[$in][]=b", {"category": {"$in": ["a", "b"]}}),
        ("tags[]=a&tags[]=b", {"tags": ["a", "b"]}),
        ("a[b][c]=1", {"a": {"b": {"c": "1"}}}),
        ("x=1&x=2", {"x": ["1", "2"]}),
        ("weird]key=1", {"weird]key": "1"}),
    ],
)
def test_parse_query_like_express_qs(query, parsed):
    assert parse_query(query) == parsed


def test_depth_and_count_follow_the_shared_limits():
    limits = DEFAULT_LIMITS
    deep = "a" + "[b]" * 50 + "=1"
    node = parse_query(deep)["a"]
    depth = 0
    while isinstance(node, dict) and "b" in node:
        node, depth = node["b"], depth + 1
    assert depth == limits.max_depth
    assert node == {"[b]" * (50 - limits.max_depth): "1"}  # the rest kept as one key, like qs
    many = "&".join(f"k{i}=v" for i in range(limits.max_values + 10))
    assert len(parse_query(many)) == limits.max_values
