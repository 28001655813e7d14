"""Staff accounts are open work for their home institution or department (MR-A7)."""

from __future__ import annotations

from jingan.core.accounts.models import User
from jingan.lib.blockers import Blocker


def home_staff(institution_id: int, department_id: int | None) -> list[Blocker]:
    """Active staff members whose home institution (or department) this is."""
    staff = User.objects.filter(is_active=True)
    if department_id is None:
        count = staff.filter(institution_id=institution_id).count()
    else:
        count = staff.filter(department_id=department_id).count()
    if not count:
        return []
    title = (
        "所属该机构的在岗工作人员账号" if department_id is None else "所属该科室的在岗工作人员账号"
    )
    return [Blocker(title, count, None)]


INSTITUTION_BLOCKERS = [home_staff]
