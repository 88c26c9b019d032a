import django
import pytest
from django.conf import settings

settings.configure(
    SECRET_KEY="example-only",
    ROOT_URLCONF="api.urls",
    ALLOWED_HOSTS=["testserver"],
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
    DATABASES={},
    MIDDLEWARE=[],
    REST_FRAMEWORK={
        "DEFAULT_AUTHENTICATION_CLASSES": [],
        "DEFAULT_PERMISSION_CLASSES": [],
        "UNAUTHENTICATED_USER": None,
    },
)
django.setup()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
