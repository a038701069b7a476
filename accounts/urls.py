from django.urls import path

from accounts.apis import WhoAmIApi

urlpatterns = [
    path("whoami", WhoAmIApi.as_view(), name="whoami"),
]
