"""A small FastAPI app: some endpoints break statuslint's rules, some don't."""

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse, StreamingResponse

app = FastAPI()
BOOKS = {1: {"id": 1, "title": "Dune"}, 2: {"id": 2, "title": "Emma"}}


@app.post("/books", status_code=201)
def create_book(book: dict) -> dict:
    # Breaks created-without-location: 201 and no Location.
    return {"id": 3, **book}


@app.post("/authors", status_code=201)
def create_author(author: dict, response: Response) -> dict:
    response.headers["Location"] = "/authors/7"
    return {"id": 7, **author}


@app.get("/books/{book_id}")
def get_book(book_id: int):
    # Never really deleted: a GET after DELETE still answers 200 (served-after-delete).
    book = BOOKS.get(book_id)
    return book if book else JSONResponse({"detail": "not found"}, status_code=404)


@app.delete("/books/{book_id}", status_code=204)
def delete_book(book_id: int) -> Response:
    return Response(status_code=204)


@app.delete("/authors/{author_id}")
def delete_author(author_id: int) -> dict:
    # delete-ok-with-body, and DELETE answered 200 here but 204 on books (inconsistent-status).
    return {"deleted": author_id}


@app.get("/stream")
def stream() -> StreamingResponse:
    return StreamingResponse(iter([b"a", b"b"]), media_type="text/plain")
