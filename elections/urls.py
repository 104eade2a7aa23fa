"""URLs of the election pages (included at ``/`` by ``baas/urls.py``), namespace
``elections``: the portal's under ``/deployments/<id>/elections/``, the public ones under
the deployment's public page ``/p/<id>/elections/``."""

from django.urls import path

from elections import public_views, views

app_name = "elections"

ELECTION = "deployments/<uuid:deployment_id>/elections/<str:election_id>/"
PUBLIC = "p/<uuid:deployment_id>/elections/<str:election_id>/"

urlpatterns = [
    path("deployments/<uuid:deployment_id>/elections/", views.election_list, name="list"),
    path("deployments/<uuid:deployment_id>/elections/new/", views.election_create,
         name="create"),
    path(ELECTION, views.election_detail, name="detail"),
    path(ELECTION + "voters/", views.election_voters, name="voters"),
    path(ELECTION + "open/", views.election_open, name="open"),
    path(ELECTION + "close/", views.election_close, name="close"),
    path(ELECTION + "publish/", views.election_publish, name="publish"),
    path(ELECTION + "trustee/", views.trustee, name="trustee"),
    path("p/<uuid:deployment_id>/elections/", public_views.election_index, name="public-list"),
    path(PUBLIC, public_views.vote, name="vote"),
    path(PUBLIC + "results/", public_views.results, name="results"),
    path(PUBLIC + "record.json", public_views.record, name="record"),
]
