import pytest
from django.test import AsyncClient, Client
from rest_framework.test import APIClient


def test_plain_create():
    assert Client().post("/plain/items", {"name": "x"}).status_code == 201


def test_plain_secret():
    assert Client().get("/plain/secret").status_code == 401


def test_plain_ok():
    assert Client().get("/plain/ok").content == b"ok"


def test_follow_redirect():
    response = Client().get("/plain/old", follow=True)
    assert response.redirect_chain == [("/drf/items/1", 302)]


def test_streamed():
    response = Client().get("/plain/stream")
    assert b"".join(response.streaming_content) == b"ab"


def test_drf_create_and_delete():
    client = APIClient()
    created = client.post("/drf/items", {"name": "x"}, format="json")
    assert created.status_code == 201
    assert client.delete("/drf/items/1").status_code == 204


@pytest.mark.anyio
async def test_async_client():
    response = await AsyncClient().get("/plain/secret")
    assert response.status_code == 401
