import requests

# Made at import, before any test: still audited.
SESSION = requests.Session()
SESSION.trust_env = False


def test_create_item(server):
    assert SESSION.post(f"{server}/items", json={"name": "x"}).status_code == 201


def test_create_order(server):
    assert SESSION.post(f"{server}/orders", json={"name": "y"}).status_code == 201


def test_private(server):
    with requests.Session() as session:
        session.trust_env = False
        assert session.get(f"{server}/private").status_code == 401


def test_get(server):
    assert requests.get(f"{server}/items/1", proxies={"http": "", "https": ""}).json() == {"id": 1}


def test_redirect_followed(server):
    response = SESSION.get(f"{server}/old")
    assert response.status_code == 200 and [r.status_code for r in response.history] == [301]


def test_streamed(server):
    with SESSION.get(f"{server}/items/1", stream=True) as response:
        assert response.status_code == 200
        assert response.json() == {"id": 1}
