"""Who sees a thing: everyone, or chosen departments and locations (posts, rewards; surveys and pushes next).

A thing with an audience has an "everyone" flag and two link tables (its departments,
its locations). A person is in the audience when the flag is set, or their department
or their location is linked. One rule, written once, so every feature agrees on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, or_


@dataclass(frozen=True)
class Audience:
    """The columns that hold one kind of thing's audience."""

    everyone: object  # the boolean "everyone" column, e.g. Post.audience_all
    owner_id: object  # the thing's id column, e.g. Post.id
    department_owner: object  # the department link table's column pointing at the thing
    department_id: object
    location_owner: object
    location_id: object

    def condition(self, department_id, location_id):
        """SQL: someone in ``department_id`` at ``location_id`` (values or bound parameters; None: none) sees it."""
        conditions = [self.everyone.is_(True)]
        if department_id is not None:
            conditions.append(
                exists().where(self.department_owner == self.owner_id, self.department_id == department_id)
            )
        if location_id is not None:
            conditions.append(exists().where(self.location_owner == self.owner_id, self.location_id == location_id))
        return or_(*conditions)

    def includes(self, user):
        """SQL: ``user`` is in the audience."""
        return self.condition(user.department_id, user.location_id)
