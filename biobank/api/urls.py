"""Routes of the analyst API, its schema and its documentation pages."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter, SimpleRouter

from biobank.api import views
from biobank.api.cohorts import CohortPairViewSet
from biobank.api.matrix import CohortMatrixView
from biobank.api.saved_cohorts import SavedCohortViewSet


def sign_in_first(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Send an anonymous browser to the sign-in page, and back to the docs after it.

    Without this the documentation pages answer a bare 401 (Redoc then fails to load
    the schema); a caller that sends a token still gets the API's own answer.
    """

    @functools.wraps(view)
    def view_or_sign_in(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated or "HTTP_AUTHORIZATION" in request.META:
            return view(request, *args, **kwargs)
        return redirect_to_login(request.get_full_path())

    return view_or_sign_in


class RecordRouter(DefaultRouter):
    """The router of the records, whose API root lists the routes beside it too."""

    def __init__(self, also_listed: dict[str, str]) -> None:
        super().__init__()
        # Prefix -> URL name of a route registered elsewhere:
        self.also_listed = also_listed

    def get_api_root_view(self, api_urls=None):
        list_name = self.routes[0].name
        listed = {
            prefix: list_name.format(basename=basename)
            for prefix, _, basename in self.registry
        }
        return self.APIRootView.as_view(api_root_dict=listed | self.also_listed)


# NB: no app namespace, so that the browsable API finds its sign-in page under the
# "rest_framework" namespace; route names start with "api-" instead.
router = RecordRouter(
    also_listed={
        "cohort-matrix": "api-cohort-matrix",
        "saved-cohorts": "api-saved-cohort-list",
    }
)
router.register("projects", views.ProjectViewSet, basename="api-project")
router.register("patients", views.PatientViewSet, basename="api-patient")
router.register("consents", views.ConsentViewSet, basename="api-consent")
router.register("treatments", views.TreatmentViewSet, basename="api-treatment")
router.register("clinical-events", views.ClinicalEventViewSet, basename="api-event")
router.register("imaging-studies", views.ImagingStudyViewSet, basename="api-study")
router.register("image-series", views.ImageSeriesViewSet, basename="api-series")
router.register("segmentations", views.SegmentationViewSet, basename="api-segmentation")
router.register(
    "feature-extractions", views.FeatureExtractionViewSet, basename="api-extraction"
)
router.register(
    "feature-definitions", views.FeatureDefinitionViewSet, basename="api-feature"
)
router.register(
    "feature-robustness", views.FeatureRobustnessViewSet, basename="api-robustness"
)
router.register("feature-values", views.FeatureValueViewSet, basename="api-value")
router.register("signatures", views.RadiomicSignatureViewSet, basename="api-signature")
router.register(
    "signature-scores", views.SignatureScoreViewSet, basename="api-signature-score"
)
router.register("blood-samples", views.BloodSampleViewSet, basename="api-sample")
router.register("ctc-counts", views.CTCCountViewSet, basename="api-ctc")
router.register("cfdna-assays", views.CfDNAAssayViewSet, basename="api-cfdna")
router.register("variants", views.VariantResultViewSet, basename="api-variant")
router.register("rna-results", views.CirculatingRNAResultViewSet, basename="api-rna")
router.register("cohort-pairs", CohortPairViewSet, basename="api-cohort-pair")

# Saved cohorts write and have no record filters, so they sit beside the record router:
saved_cohort_router = SimpleRouter()
saved_cohort_router.register(
    "saved-cohorts", SavedCohortViewSet, basename="api-saved-cohort"
)

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/",
        sign_in_first(SpectacularSwaggerView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path(
        "redoc/",
        sign_in_first(views.OfflineRedocView.as_view(url_name="api-schema")),
        name="api-redoc",
    ),
    path("auth/token/", views.ThrottledObtainAuthToken.as_view(), name="api-token"),
    path("auth/", include("rest_framework.urls")),
    path("cohort-matrix/", CohortMatrixView.as_view(), name="api-cohort-matrix"),
    path("", include(router.urls)),
    path("", include(saved_cohort_router.urls)),
]
