import pytest

from tenants.tests.factories import MembershipFactory, api_key_for


class Party:
    """A tenant with an owner and a full-scope API key: Alice's shop, or Charlie's."""

    def __init__(self, role="owner"):
        self.membership = MembershipFactory(role=role)
        self.tenant = self.membership.tenant
        self.user = self.membership.user
        self.key, self.secret = api_key_for(self.tenant)

    @property
    def auth(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"}


@pytest.fixture
def alice(db) -> Party:
    return Party()


@pytest.fixture
def charlie(db) -> Party:
    """The outsider: another tenant, who must never see or touch Alice's rows."""
    return Party()
