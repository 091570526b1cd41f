"""The Django admin site, with the same login throttle as the site's own login page."""

from collections.abc import Callable
from typing import Any

from csp.decorators import csp_update
from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from accounts.forms import AdminLoginForm
from accounts.views import with_login_refusal_status

# Django admin's own templates (the change list without actions, django-guardian's object
# permissions page) carry <style> blocks. Its views, and only they, may use inline styles;
# inline scripts stay refused there as everywhere (admin has none: its data is JSON in
# non-executed <script type="application/json"> blocks, its code in static files).
ADMIN_CSP_UPDATE = {"style-src": ["'unsafe-inline'"]}


class AdminSite(admin.AdminSite):
    login_form = AdminLoginForm

    def admin_view(self, view: Callable[..., Any], cacheable: bool = False) -> Any:
        """Every admin page but the login and logout (which have no inline style)."""
        return super().admin_view(csp_update(ADMIN_CSP_UPDATE)(view), cacheable)

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        response: HttpResponse = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        return with_login_refusal_status(response, form)
