"""A refused form tells a screen reader why: every aria-describedby on the page names an
element that is there (the field's error and help), on every form of the web UI."""

import re

import pytest
from django.urls import reverse

from tenants.tests.helpers import log_in

pytestmark = pytest.mark.django_db

REFUSED_POSTS = [
    ("product_new", {"sku": "", "name": "", "currency": "EUR", "base_price": "12,50"}),
    ("experiment_new", {"key": "", "name": "", "variants-TOTAL_FORMS": "0", "variants-INITIAL_FORMS": "0"}),
    ("api_keys", {"name": "", "scopes": []}),
    ("team", {"email": "not-an-email", "role": "member"}),
    ("webhook_new", {"url": "ftp://example.com", "event_types": []}),
]


@pytest.mark.parametrize(("name", "data"), REFUSED_POSTS, ids=[name for name, _ in REFUSED_POSTS])
def test_every_error_and_help_text_a_field_points_at_is_on_the_page(client, alice, name, data):
    log_in(client, alice.user, alice.tenant)
    response = client.post(reverse(name), data)
    assert response.status_code == 400
    page = response.text
    described = re.findall(r'aria-describedby="([^"]+)"', page)
    assert any("error" in ids for ids in described), "no field points at its error"
    ids_on_page = set(re.findall(r'\bid="([^"]+)"', page))
    missing = {ref for ids in described for ref in ids.split()} - ids_on_page
    assert not missing, f"aria-describedby names elements that are not on the page: {sorted(missing)}"
