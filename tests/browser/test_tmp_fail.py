import pytest
pytestmark = pytest.mark.browser
def test_fails(phone):
    phone.goto("/login/")
    assert False
