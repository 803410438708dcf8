"""An HTML page parsed into a tree to assert on: the status page as the server renders it
(tests/unit/web/test_page.py, strictly: every element closed as opened) and as the browser
holds it (tests/browser: the serialized DOM, read in one call).

The status page reloads itself (meta refresh), so browser element handles can go stale between
two WebDriver calls; one serialization of the DOM is one consistent moment to assert on, and it
reads the same with JavaScript on or off.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

# Elements that never have content, so no end tag closes them.
_VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }
)


@dataclass(eq=False)
class Element:
    """One element: its tag and attributes (names lower-cased) and its content in order."""

    tag: str
    attrs: dict[str, str]
    content: list[str | Element] = field(default_factory=list)

    def __repr__(self) -> str:
        shown = " ".join(f'{k}="{v}"' for k, v in self.attrs.items())
        return f"<{self.tag}{' ' if shown else ''}{shown}>"

    @property
    def children(self) -> list[Element]:
        return [c for c in self.content if isinstance(c, Element)]

    def text(self) -> str:
        """Every text inside, in document order (what `textContent` gives)."""
        return "".join(c if isinstance(c, str) else c.text() for c in self.content)

    def words(self) -> str:
        """The text with runs of white space made one space, as a reader sees it."""
        return " ".join(self.text().split())

    def iter(self) -> Iterator[Element]:
        """This element and every element inside it, in document order."""
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str | bool) -> list[Element]:
        """Elements inside (this one included) with `tag` and every attribute given.

        Keyword names have `_` for `-` (`data_strip` is `data-strip`); `True` only asks that
        the attribute is there; `class_` matches one class among the element's classes.
        """
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [e for e in self.iter() if (tag is None or e.tag == tag) and e._has(wanted)]

    def find(self, tag: str | None = None, **attrs: str | bool) -> Element:
        """The first element `find_all` finds; fails the test naming what was looked for."""
        found = self.find_all(tag, **attrs)
        if not found:
            asked = " ".join(f"{k}={v!r}" for k, v in attrs.items())
            raise AssertionError(f"no <{tag or '*'} {asked}> in {self!r}")
        return found[0]

    def all(self, tag: str | None = None, **attrs: str | None) -> list[Element]:
        """`find_all` below this element; `None` only asks that the attribute is there."""
        asked: dict[str, str | bool] = {k: True if v is None else v for k, v in attrs.items()}
        return [e for e in self.find_all(tag, **asked) if e is not self]

    def one(self, tag: str | None = None, **attrs: str | None) -> Element:
        """The only element `all` finds; fails the test when there are none or several."""
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag or '*'} {attrs}> in {self!r}"
        return found[0]

    def _has(self, wanted: dict[str, str | bool]) -> bool:
        for name, value in wanted.items():
            have = self.attrs.get(name)
            if have is None:
                return False
            if value is True:
                continue
            if name == "class":
                if value not in have.split():
                    return False
            elif have != value:
                return False
        return True


class _TreeBuilder(HTMLParser):
    def __init__(self, strict: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self._open = [self.root]
        self._strict = strict

    def closed_all(self) -> bool:
        return self._open == [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self._open[-1].content.append(element)
        if tag not in _VOID:
            self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open[-1].content.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if self._strict:
            assert self._open[-1].tag == tag, f"</{tag}> closes <{self._open[-1].tag}>"
        # Close up to the matching open element; an end tag that matches none is ignored.
        for depth in range(len(self._open) - 1, 0, -1):
            if self._open[depth].tag == tag:
                del self._open[depth:]
                return

    def handle_data(self, data: str) -> None:
        self._open[-1].content.append(data)


def parse(html: str, *, strict: bool = False) -> Element:
    """The document's tree; its root is a `#document` element holding `<html>`.

    *strict*: every end tag closes the element opened last and none is left open, as the
    server's own markup must (a browser's serialization is well-formed anyway)."""
    builder = _TreeBuilder(strict)
    builder.feed(html)
    builder.close()
    assert not strict or builder.closed_all(), "unclosed elements"
    return builder.root
