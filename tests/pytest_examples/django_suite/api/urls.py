from django.urls import path

from . import views

urlpatterns = [
    path("plain/items", views.plain_items),
    path("plain/secret", views.plain_secret),
    path("plain/old", views.plain_old),
    path("plain/stream", views.plain_stream),
    path("plain/ok", views.plain_ok),
    path("drf/items", views.Items.as_view()),
    path("drf/items/<int:pk>", views.Item.as_view()),
]
