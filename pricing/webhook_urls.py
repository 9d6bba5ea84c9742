from django.urls import path

from pricing import webhook_views as views

urlpatterns = [
    path("", views.WebhookListView.as_view(), name="webhooks"),
    path("new/", views.WebhookCreateView.as_view(), name="webhook_new"),
    path("<int:pk>/", views.WebhookDetailView.as_view(), name="webhook_detail"),
    path("<int:pk>/edit/", views.WebhookEditView.as_view(), name="webhook_edit"),
    path("<int:pk>/active/", views.WebhookActiveView.as_view(), name="webhook_active"),
    path("<int:pk>/roll-secret/", views.WebhookSecretRollView.as_view(), name="webhook_roll_secret"),
    path("<int:pk>/delete/", views.WebhookDeleteView.as_view(), name="webhook_delete"),
    path(
        "<int:pk>/deliveries/<int:delivery_id>/", views.WebhookDeliveryView.as_view(), name="webhook_delivery"
    ),
    path(
        "<int:pk>/deliveries/<int:delivery_id>/redeliver/",
        views.WebhookRedeliverView.as_view(),
        name="webhook_redeliver",
    ),
]
