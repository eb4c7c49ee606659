"""One page of a query's rows and the total, for every ``Page`` answer (contract §3)."""
from sqlalchemy import func, select


def paginate(dbsession, query, *, page, per_page, order_by):
    total = dbsession.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = dbsession.scalars(
        query.order_by(*order_by).offset((page - 1) * per_page).limit(per_page))
    return list(rows), total
