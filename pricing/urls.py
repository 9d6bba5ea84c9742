"""The products pages, under /products/. A product is addressed by its sku, as in the API."""

from django.urls import path, re_path

from pricing import views
from pricing.converters import SkuConverter

# re_path rather than <sku:…>: the "sku" converter is registered by pricing.api_urls, and
# these routes should not depend on which URLconf happens to be imported first.
SKU = rf"(?P<sku>{SkuConverter.regex})"

urlpatterns = [
    path("", views.ProductListView.as_view(), name="products"),
    # Before the sku routes: "new" is also a well-formed sku, which the create form refuses.
    path("new/", views.ProductCreateView.as_view(), name="product_new"),
    re_path(rf"^{SKU}/$", views.ProductDetailView.as_view(), name="product_detail"),
    re_path(rf"^{SKU}/edit/$", views.ProductEditView.as_view(), name="product_edit"),
    re_path(rf"^{SKU}/active/$", views.ProductActiveView.as_view(), name="product_active"),
]
