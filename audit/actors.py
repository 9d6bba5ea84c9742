"""Who made a change: a person, Pricelab staff, an API key, or Pricelab itself."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from audit.models import ActorKind

if TYPE_CHECKING:
    from tenants.access import Access
    from tenants.models import User


@dataclass(frozen=True)
class Actor:
    kind: str
    user: "User | None" = None
    api_key_id: int | None = None
    # Known when the caller has it at hand; audit_record looks it up otherwise.
    api_key_prefix: str = ""

    @classmethod
    def person(cls, user: "User") -> "Actor":
        """A tenant's member, in the web UI or the API with their session."""
        return cls(ActorKind.USER, user=user)

    @classmethod
    def staff(cls, user: "User") -> "Actor":
        """An operator, in Django admin or a management command."""
        return cls(ActorKind.STAFF, user=user)

    @classmethod
    def api_key(cls, api_key_id: int, prefix: str = "") -> "Actor":
        return cls(ActorKind.API_KEY, api_key_id=api_key_id, api_key_prefix=prefix)

    @property
    def label(self) -> str:
        if self.user is not None:
            return self.user.email
        if self.kind == ActorKind.API_KEY:
            return self.api_key_prefix or f"key #{self.api_key_id}"
        return self.kind


SYSTEM = Actor(ActorKind.SYSTEM)
STRIPE = Actor(ActorKind.STRIPE)


def actor_for(*, by: Actor | None = None, user: "User | None" = None, api_key_id: Any = None) -> Actor:
    """The actor a service records: ``by`` when the caller says so (staff, Stripe), else the
    key or person the service was given, else Pricelab itself (a task, a command)."""
    if by is not None:
        return by
    if api_key_id is not None:
        return Actor.api_key(int(api_key_id))
    if user is not None and user.is_authenticated:
        return Actor.person(user)
    return SYSTEM


def actor_of(access: "Access") -> Actor:
    """The caller of a request, from its tenant access (API key or session)."""
    if access.api_key_id is not None:
        return Actor.api_key(access.api_key_id)
    if access.user is not None:
        return Actor.person(access.user)
    return SYSTEM
