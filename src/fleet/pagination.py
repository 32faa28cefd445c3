"""List parameters shared by every collection endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Response
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

MAX_LIMIT = 500
MAX_SKIP = 2**31 - 1  # the database's OFFSET must stay within its integer range
T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    skip: int
    limit: int


async def _page(
    skip: Annotated[int, Query(ge=0, le=MAX_SKIP, description="Rows to skip")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows to return")] = 50,
) -> Page:
    return Page(skip=skip, limit=limit)


PageDep = Annotated[Page, Depends(_page)]


async def paginate(
    session: AsyncSession, stmt: Select[Any], page: Page, response: Response
) -> list[Any]:
    """Run ``stmt`` for one page, putting the unpaged total in the ``X-Total-Count`` header."""
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    response.headers["X-Total-Count"] = str(total or 0)
    result = await session.execute(stmt.offset(page.skip).limit(page.limit))
    return list(result.scalars().all())
