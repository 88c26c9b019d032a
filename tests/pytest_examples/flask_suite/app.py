"""A small Flask app: some endpoints break statuslint's rules, some don't."""

from flask import Flask, Response, jsonify, redirect

app = Flask(__name__)


@app.post("/things")
def create_thing():
    # created-without-location: 201 and no Location.
    return jsonify(id=1), 201


@app.get("/things/<int:thing_id>")
def get_thing(thing_id: int):
    return jsonify(id=thing_id)


@app.get("/old")
def old():
    return redirect("/things/1", code=301)


@app.post("/login")
def login():
    # method-changing-redirect: a 302 answering a POST.
    return redirect("/things/1", code=302)


@app.get("/stream")
def stream():
    return Response((part for part in (b"a", b"b")), mimetype="text/plain")
