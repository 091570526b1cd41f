from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    """django.contrib.admin with our site (cimar_share.admin.AdminSite) as `admin.site`."""

    default_site = "cimar_share.admin.AdminSite"
