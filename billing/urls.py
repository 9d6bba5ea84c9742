from django.urls import path

from billing import views

urlpatterns = [
    path("", views.BillingView.as_view(), name="billing"),
    path("checkout/", views.CheckoutView.as_view(), name="billing_checkout"),
    path("portal/", views.PortalView.as_view(), name="billing_portal"),
    path("stripe/webhook/", views.stripe_webhook, name="billing_stripe_webhook"),
]
