"""Every branch, cached per web node (webapp.node_cache): branches change rarely and every
request needs its user's."""
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.branches.models import Branch
from webapp.node_cache import VersionedNodeCache

#: bumped after every committed branch change: nodes then reload their branch cache
BRANCHES_VERSION_KEY = "absensi:branches:version"


class BranchCache(VersionedNodeCache):
    """Every branch by id (read-only detached rows)."""

    def load(self):
        with Session(self.engine, expire_on_commit=False) as session:
            branches = {b.id: b for b in session.scalars(select(Branch))}
            session.expunge_all()
        return branches

    def get(self, branch_id, version):
        return self.current(version).get(branch_id)

    def all(self, version):
        """Every branch, by id."""
        return sorted(self.current(version).values(), key=lambda b: b.id)


def bump_branches_version(redis):
    """After a committed branch change (an after-commit callback)."""
    redis.incr(BRANCHES_VERSION_KEY)
