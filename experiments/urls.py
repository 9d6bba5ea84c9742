from django.urls import path

from experiments import views

urlpatterns = [
    path("", views.ExperimentListView.as_view(), name="experiments"),
    path("new/", views.ExperimentCreateView.as_view(), name="experiment_new"),
    path("calculator/", views.SampleSizeView.as_view(), name="experiment_calculator"),
    path("<slug:key>/", views.ExperimentDetailView.as_view(), name="experiment_detail"),
    path("<slug:key>/edit/", views.ExperimentEditView.as_view(), name="experiment_edit"),
    path("<slug:key>/results/", views.ExperimentResultsView.as_view(), name="experiment_results"),
    path("<slug:key>/start/", views.ExperimentStartView.as_view(), name="experiment_start"),
    path("<slug:key>/pause/", views.ExperimentPauseView.as_view(), name="experiment_pause"),
    path("<slug:key>/complete/", views.ExperimentCompleteView.as_view(), name="experiment_complete"),
    path("<slug:key>/archive/", views.ExperimentArchiveView.as_view(), name="experiment_archive"),
]
