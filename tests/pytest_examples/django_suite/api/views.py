"""Plain Django views and DRF views: some break statuslint's rules, some don't."""

from django.http import HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView


@csrf_exempt
def plain_items(request):
    # created-without-location: 201 and no Location.
    return JsonResponse({"id": 1}, status=201)


def plain_secret(request):
    # unauthorized-without-challenge: 401 without WWW-Authenticate (an error).
    return JsonResponse({"detail": "log in"}, status=401)


def plain_old(request):
    return HttpResponseRedirect("/drf/items/1")


def plain_stream(request):
    return StreamingHttpResponse(iter([b"a", b"b"]), content_type="text/plain")


def plain_ok(request):
    return HttpResponse(b"ok", content_type="text/plain")


class Items(APIView):
    def post(self, request):
        assert request.data == {"name": "x"}  # the view reads the body as a stream
        return Response({"id": 1, **request.data}, status=status.HTTP_201_CREATED, headers={"Location": "/drf/items/1"})


class Item(APIView):
    def get(self, request, pk):
        return Response({"id": pk})

    def delete(self, request, pk):
        return Response(status=status.HTTP_204_NO_CONTENT)
