"""Routes of the analyst API, its schema and its documentation pages."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter, SimpleRouter

from biobank.api import views
from biobank.api.cohorts import CohortPairViewSet
from biobank.api.matrix import CohortMatrixView
from biobank.api.saved_cohorts import SavedCohortViewSet

# NB: no app namespace, so that the browsable API finds its sign-in page under the
# "rest_framework" namespace; route names start with "api-" instead.
router = DefaultRouter()
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
        "docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"
    ),
    path(
        "redoc/",
        views.OfflineRedocView.as_view(url_name="api-schema"),
        name="api-redoc",
    ),
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("auth/", include("rest_framework.urls")),
    path("cohort-matrix/", CohortMatrixView.as_view(), name="api-cohort-matrix"),
    path("", include(router.urls)),
    path("", include(saved_cohort_router.urls)),
]
