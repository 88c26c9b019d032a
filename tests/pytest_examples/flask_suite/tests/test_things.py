import httpx
import pytest
from app import app


@pytest.fixture
def client():
    return app.test_client()


def test_create(client):
    assert client.post("/things", json={"name": "x"}).status_code == 201


def test_get(client):
    assert client.get("/things/1").get_json() == {"id": 1}


def test_follow_redirect(client):
    response = client.get("/old", follow_redirects=True)
    assert response.status_code == 200 and len(response.history) == 1


def test_login_redirect(client):
    assert client.post("/login").status_code == 302


def test_streamed(client):
    response = client.get("/stream")
    assert response.get_data() == b"ab"


def test_httpx_wsgi_transport():
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://wsgi") as wsgi:
        assert wsgi.post("/things", json={"name": "y"}).status_code == 201
