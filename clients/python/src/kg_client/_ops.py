"""The machinery that turns an operation written once into a method of both
clients: `operation` for a request (or a few) that answers a value,
`listing` for a list that pages with cursors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from pydantic import BaseModel

from ._core import Steps

if TYPE_CHECKING:
    from .client import AsyncClient, Client, _Base

P = ParamSpec("P")
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class operation(Generic[P, T]):
    """An operation of both clients: a blocking method on `Client`, a
    coroutine on `AsyncClient`, from one generator of steps."""

    def __init__(self, steps: Callable[Concatenate[_Base, P], Steps[T]]) -> None:
        self._steps = steps
        self.__doc__ = steps.__doc__
        self.__name__ = steps.__name__

    @overload
    def __get__(self, client: None, owner: type[Any]) -> operation[P, T]: ...
    @overload
    def __get__(self, client: Client, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(self, client: AsyncClient, owner: type[Any]) -> Callable[P, Awaitable[T]]: ...

    def __get__(self, client: _Base | None, owner: type[Any]) -> Any:
        if client is None:
            return self
        steps = self._steps

        def bound(*args: P.args, **kwargs: P.kwargs) -> Any:
            return client._run(steps(client, *args, **kwargs))

        bound.__doc__ = self.__doc__
        bound.__name__ = self.__name__
        return bound


@dataclass(frozen=True)
class Listing(Generic[M]):
    """A list endpoint with its query: what a `listing` method answers."""

    path: str
    params: Sequence[tuple[str, str]]
    item: type[M]


class listing(Generic[P, M]):
    """A list of both clients: an iterator on `Client`, an async iterator on
    `AsyncClient`, that follows the cursors lazily, one page at a time."""

    def __init__(self, describe: Callable[Concatenate[_Base, P], Listing[M]]) -> None:
        self._describe = describe
        self.__doc__ = describe.__doc__
        self.__name__ = describe.__name__

    @overload
    def __get__(self, client: None, owner: type[Any]) -> listing[P, M]: ...
    @overload
    def __get__(self, client: Client, owner: type[Any]) -> Callable[P, Iterator[M]]: ...
    @overload
    def __get__(self, client: AsyncClient, owner: type[Any]) -> Callable[P, AsyncIterator[M]]: ...

    def __get__(self, client: _Base | None, owner: type[Any]) -> Any:
        if client is None:
            return self
        describe = self._describe

        def bound(*args: P.args, **kwargs: P.kwargs) -> Any:
            return client._pages(describe(client, *args, **kwargs))

        bound.__doc__ = self.__doc__
        bound.__name__ = self.__name__
        return bound


MAX_PAGE = 100


def query(**filters: object) -> list[tuple[str, str]]:
    """Query parameters from keyword filters: ``None`` is left out, booleans
    are ``true``/``false``, a datetime (which must carry its time zone) is
    RFC 3339, ``metadata={"k": "v"}`` becomes ``metadata.k=v``, and
    ``limit`` must be one kg serves (1 to 100)."""
    params: list[tuple[str, str]] = []
    for name, value in filters.items():
        if value is None:
            continue
        if name == "limit" and not (isinstance(value, int) and 1 <= value <= MAX_PAGE):
            raise ValueError(f"page_size must be from 1 to {MAX_PAGE}, not {value!r}")
        if name == "metadata" and isinstance(value, Mapping):
            params += [(f"metadata.{k}", str(v)) for k, v in value.items()]
        elif isinstance(value, bool):
            params.append((name, "true" if value else "false"))
        elif isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"{name} needs a time zone (datetime.now(timezone.utc), say)")
            params.append((name, value.isoformat()))
        else:
            params.append((name, str(value)))
    return params
